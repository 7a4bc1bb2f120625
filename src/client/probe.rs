//! `berth healthcheck`: does the registry a configuration describes answer
//! on this host? For the container image's HEALTHCHECK, as an empty image has
//! no curl or wget, and those would not know the port, the scheme or that a
//! 401 from a registry with auth is a healthy answer.

use http::{Method, StatusCode};

use super::{
    ClientError, Trust,
    transport::{Transport, Url},
};
use crate::config::{Config, Net};

/// The `/v2/` URL of the registry `config` serves, as reached from this
/// host: a wildcard address is asked on loopback, over HTTPS when
/// `http.tls` is set, below `http.prefix`.
pub fn local_url(config: &Config) -> Result<String, ClientError> {
    if config.http.net == Net::Unix {
        return Err(ClientError::Usage(format!("http.addr {} is a unix socket: give a URL", config.http.addr)));
    }
    let (host, port) = config
        .addr
        .rsplit_once(':')
        .ok_or_else(|| ClientError::Usage(format!("http.addr {:?} has no port", config.addr)))?;
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        other => other,
    };
    let scheme = if config.http.tls.is_some() { "https" } else { "http" };
    let prefix = config.http.prefix.trim_matches('/');
    let prefix = if prefix.is_empty() { String::new() } else { format!("/{prefix}") };
    Ok(format!("{scheme}://{host}:{port}{prefix}/v2/"))
}

/// Asks `GET url` once, without checking the server's certificate (the
/// question is whether the process answers, not who it is). Healthy is what
/// a registry's `/v2/` answers: 200, or 401 with auth. A failing `health`
/// check answers 503, plain HTTP to a TLS port 400, a wrong prefix 404.
pub fn probe(url: &str) -> Result<StatusCode, ClientError> {
    let url = Url::parse(url)?;
    let transport = Transport::new(&Trust::Insecure)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Usage(format!("cannot start the runtime: {e}")))?;
    let answer = runtime.block_on(transport.send(&Method::GET, &url, &[]))?;
    if answer.status != StatusCode::OK && answer.status != StatusCode::UNAUTHORIZED {
        let body = String::from_utf8_lossy(&answer.body).chars().take(200).collect();
        return Err(ClientError::Unexpected { context: format!("GET {url}"), status: answer.status, body });
    }
    Ok(answer.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Http, Tls};

    fn url(addr: &str, tls: bool, prefix: &str) -> String {
        let http = Http { prefix: prefix.to_owned(), tls: tls.then(Tls::default), ..Http::default() };
        let config = Config { addr: crate::config::bind_addr(addr), http, ..Config::default() };
        local_url(&config).unwrap()
    }

    #[test]
    fn a_wildcard_address_is_asked_on_loopback() {
        assert_eq!(url(":5000", false, ""), "http://127.0.0.1:5000/v2/");
        assert_eq!(url("0.0.0.0:5000", false, ""), "http://127.0.0.1:5000/v2/");
        assert_eq!(url("[::]:5443", false, ""), "http://[::1]:5443/v2/");
        assert_eq!(url("10.1.2.3:5000", false, ""), "http://10.1.2.3:5000/v2/");
    }

    #[test]
    fn tls_and_prefix_are_followed() {
        assert_eq!(url(":443", true, "/registry/"), "https://127.0.0.1:443/registry/v2/");
        assert_eq!(url("localhost:5000", false, "/"), "http://localhost:5000/v2/");
    }

    #[test]
    fn a_unix_socket_needs_a_url() {
        let http = Http { net: Net::Unix, addr: "/run/berth.sock".to_owned(), ..Http::default() };
        assert!(local_url(&Config { http, ..Config::default() }).is_err());
    }
}
