//! `berth cert self-signed`: a private CA and a server certificate it
//! signs, for `http.tls` when no public CA will issue one (a registry on a
//! LAN name or an IP), as the seeds made with openssl by hand.
//!
//! Two certificates rather than one self-signed leaf: clients trust the
//! CA (`ca.crt` in docker's and podman's `certs.d`, or the system store),
//! so the server certificate can be renewed, or names added, without
//! touching every client ([`Existing::KeepCa`], `--renew`). Keys are ECDSA P-256, which docker, podman,
//! containerd, Go and rustls all accept.
//!
//! `server.crt` holds the leaf alone: the only certificate above it is the
//! root, which a client must already trust and which TLS lets a server leave
//! out (RFC 8446, 4.4.2).

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::files;

/// The server certificate's default validity: 825 days, the longest that
/// Apple's platforms accept for a TLS server certificate.
pub const DEFAULT_DAYS: u32 = 825;

/// The CA's validity, or the server certificate's when that is longer: the
/// CA outlives several renewals of the server certificate.
const CA_DAYS: u32 = 3650;

/// Backdating, so a client whose clock is a little behind accepts a
/// certificate made a moment ago.
const BACKDATE: Duration = Duration::hours(1);

/// Keys only their owner may read.
const KEY_MODE: u32 = 0o600;
/// Certificates are public.
const CERT_MODE: u32 = 0o644;

/// The files written, in the order written.
pub const FILES: [&str; 4] = ["ca.crt", "ca.key", "server.crt", "server.key"];

/// What the certificates are for.
pub struct Request {
    /// DNS names (a wildcard such as `*.example.com` too) and IP addresses
    /// clients use to reach the registry; each becomes a subjectAltName.
    pub hosts: Vec<String>,
    /// More IP addresses.
    pub ips: Vec<IpAddr>,
    /// The server certificate's validity in days.
    pub days: u32,
}

/// A subjectAltName entry, checked.
enum Name {
    Dns(String),
    Ip(IpAddr),
}

/// What happens to files already in the directory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Any of [`FILES`] there stops the command; nothing is written.
    Refuse,
    /// All four are replaced: a new CA, which every client must trust anew.
    Replace,
    /// The CA there (`ca.crt`, `ca.key`) signs a new server certificate,
    /// which replaces `server.crt` and `server.key`: a renewal, or new
    /// names, that clients trusting the CA accept as they are.
    KeepCa,
}

/// Writes the CA and the server certificate with their keys into `dir`
/// (created if missing), or with [`Existing::KeepCa`] only a new server
/// certificate. Returns the paths written.
pub fn self_signed(request: &Request, dir: &Path, existing: Existing) -> anyhow::Result<Vec<PathBuf>> {
    let names = names(request)?;
    if request.days == 0 {
        bail!("--days must be at least 1");
    }
    let now = OffsetDateTime::now_utc();
    let pems: Vec<(&str, String)> = match existing {
        Existing::KeepCa => FILES[2..].iter().copied().zip(renew(&names, dir, now, request.days)?).collect(),
        Existing::Refuse | Existing::Replace => {
            if existing == Existing::Refuse
                && let Some(there) = FILES.iter().map(|f| dir.join(f)).find(|p| p.exists())
            {
                bail!(
                    "{} exists; pass --renew to sign a new server certificate with the CA there, \
                     or --force to replace all four files",
                    there.display()
                );
            }
            FILES.iter().copied().zip(make(&names, now, request.days)?).collect()
        }
    };
    write(dir, &pems, existing)
}

/// Writes the files, keys readable by their owner alone; only new files
/// unless told to replace.
fn write(dir: &Path, pems: &[(&str, String)], existing: Existing) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (file, pem) in pems {
        let path = dir.join(file);
        let mode = if file.ends_with(".key") { KEY_MODE } else { CERT_MODE };
        let outcome = match existing {
            Existing::Refuse => files::create_new(&path, pem.as_bytes(), mode),
            Existing::Replace | Existing::KeepCa => files::replace(&path, pem.as_bytes(), files::Mode::Exact(mode)),
        };
        outcome.with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The hosts and IPs as SANs: a host that parses as an IP address is one.
fn names(request: &Request) -> anyhow::Result<Vec<Name>> {
    if request.hosts.is_empty() && request.ips.is_empty() {
        bail!("name the registry: --host NAME (or --ip ADDRESS) as clients will reach it");
    }
    let mut names = Vec::new();
    for host in &request.hosts {
        names.push(match host.parse::<IpAddr>() {
            Ok(ip) => Name::Ip(ip),
            Err(_) => Name::Dns(checked_dns(host)?),
        });
    }
    names.extend(request.ips.iter().copied().map(Name::Ip));
    Ok(names)
}

/// A host name lowercased, refused unless it is dot-separated labels of
/// letters, digits and `-` (the first label may be `*`).
fn checked_dns(host: &str) -> anyhow::Result<String> {
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let label_ok = |(i, l): (usize, &str)| {
        (i == 0 && l == "*")
            || (!l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').enumerate().all(label_ok) || name == "*" {
        bail!("{host:?} is not a host name (letters, digits, '-' and '.'; use --ip for an address)");
    }
    Ok(name)
}

/// The four PEM texts, in [`FILES`] order.
fn make(names: &[Name], now: OffsetDateTime, days: u32) -> anyhow::Result<[String; 4]> {
    let first = first_name(names);
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca_params = ca_params(&first, now, days.max(CA_DAYS));
    let ca = ca_params.self_signed(&ca_key).context("signing the CA")?;
    let [server, key] = sign(names, now, days, &Issuer::new(ca_params, &ca_key))?;
    Ok([ca.pem(), ca_key.serialize_pem(), server, key])
}

/// A new server certificate and key signed by the CA in `dir`, checked
/// first: the key must be the certificate's, and the CA must outlive the
/// new certificate (a client stops trusting it when the CA expires).
fn renew(names: &[Name], dir: &Path, now: OffsetDateTime, days: u32) -> anyhow::Result<[String; 2]> {
    let read = |f: &str| {
        let path = dir.join(f);
        std::fs::read_to_string(&path).with_context(|| format!("--renew needs the CA: reading {}", path.display()))
    };
    let (ca_pem, key_pem) = (read("ca.crt")?, read("ca.key")?);
    let ca_key = KeyPair::from_pem(&key_pem).context("ca.key is not a PEM private key")?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).context("ca.crt is not a PEM certificate")?;
    let ca = pem.parse_x509().context("ca.crt is not a certificate")?;
    if ca.public_key().raw != ca_key.subject_public_key_info().as_slice() {
        bail!("ca.key is not the key of ca.crt");
    }
    let ca_end = ca.validity().not_after.to_datetime();
    if ca_end < now + Duration::days(i64::from(days)) {
        bail!(
            "the CA in ca.crt expires on {}, before {days} days from now: lower --days, or make a new CA with --force",
            ca_end.date()
        );
    }
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key).context("ca.crt")?;
    sign(names, now, days, &issuer)
}

/// A server certificate and its new key, signed by `issuer`.
fn sign(names: &[Name], now: OffsetDateTime, days: u32, issuer: &Issuer<'_, &KeyPair>) -> anyhow::Result<[String; 2]> {
    let key = KeyPair::generate().context("generating the server key")?;
    let params = server_params(names, &first_name(names), now, days)?;
    let server = params.signed_by(&key, issuer).context("signing the server certificate")?;
    Ok([server.pem(), key.serialize_pem()])
}

/// The first host or IP, the server certificate's common name.
fn first_name(names: &[Name]) -> String {
    match &names[0] {
        Name::Dns(d) => d.clone(),
        Name::Ip(ip) => ip.to_string(),
    }
}

fn ca_params(first: &str, now: OffsetDateTime, days: u32) -> CertificateParams {
    let mut params = common(&format!("berth private CA for {first}"), now, days);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn server_params(names: &[Name], first: &str, now: OffsetDateTime, days: u32) -> anyhow::Result<CertificateParams> {
    let mut params = common(first, now, days);
    params.subject_alt_names = names
        .iter()
        .map(|n| match n {
            Name::Dns(d) => d.clone().try_into().map(SanType::DnsName),
            Name::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    // CA:FALSE said outright, so no verifier can take the leaf for a CA.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Subject, validity and a random serial (RFC 5280 wants serials unique
/// per CA; a fresh CA per run makes a v4 UUID's 122 random bits plenty).
fn common(common_name: &str, now: OffsetDateTime, days: u32) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(i64::from(days));
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    // Positive and without a leading zero byte, as DER INTEGERs must be minimal.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params
}

/// What to do with the files: the `http.tls` lines, and how docker,
/// podman (skopeo, buildah) and the system store come to trust the CA, for
/// each host as clients name it with `port` (none for 443).
pub fn trust_steps(dir: &Path, request: &Request, port: u16) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let abs = abs.display();
    let ca = dir.join("ca.crt");
    let hosts = request.hosts.iter().cloned().chain(request.ips.iter().map(IpAddr::to_string));
    let clients: String = hosts.map(|host| client_steps(&ca.display().to_string(), &host, port)).collect();
    let name = format!("berth-{}", request.hosts.first().map_or("registry", String::as_str)).replace(['*', ':'], "_");
    let ca = ca.display();
    format!(
        "Serve with them: config.yml\n  http:\n    tls:\n      certificate: {abs}/server.crt\n      key: {abs}/server.key\n\
         or REGISTRY_HTTP_TLS_CERTIFICATE={abs}/server.crt REGISTRY_HTTP_TLS_KEY={abs}/server.key\n\
         Keep ca.key secret (or offline): whoever has it can make certificates these clients trust.\n\n\
         Trust the CA on every client, for each name clients use:\n{clients}\
         \x20 the system store (curl, berth's own client commands, everything else), once per machine:\n\
         \x20   Debian, Ubuntu: sudo cp {ca} /usr/local/share/ca-certificates/{name}.crt && sudo update-ca-certificates\n\
         \x20   RHEL, Fedora:   sudo cp {ca} /etc/pki/ca-trust/source/anchors/{name}.crt && sudo update-ca-trust\n"
    )
}

/// docker's and the containers tools' `certs.d` steps for one host: the
/// directory is named as clients name the registry, `HOST:PORT`.
fn client_steps(ca: &str, host: &str, port: u16) -> String {
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
    let target = if port == 443 { host } else { format!("{host}:{port}") };
    format!(
        "  docker (no restart needed):\n    sudo mkdir -p /etc/docker/certs.d/{target} && sudo cp {ca} /etc/docker/certs.d/{target}/ca.crt\n\
         \x20 podman, skopeo, buildah:\n    sudo mkdir -p /etc/containers/certs.d/{target} && sudo cp {ca} /etc/containers/certs.d/{target}/ca.crt\n"
    )
}
