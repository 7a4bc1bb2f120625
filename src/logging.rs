//! Logs as distribution writes them: logrus text (`time=… level=info
//! msg=…`), JSON or logstash JSON, with the static `log.fields` on every
//! line; and the access log in Apache combined format on stdout.
//!
//! Nothing here ever sees request headers other than the referer and user
//! agent, so credentials cannot reach a log line.

use std::{fmt, io::Write, net::SocketAddr};

use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// `log.formatter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// logrus' text format.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// JSON with logstash's field names (`@timestamp`, `@version`, `message`).
    Logstash,
}

/// `log` as berth uses it.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `log.level`.
    pub level: String,
    /// `log.formatter`.
    pub format: Format,
    /// `log.fields`: added to every line.
    pub fields: Vec<(String, String)>,
}

/// Installs the global subscriber. `BERTH_LOG` (a tracing filter) overrides
/// the level, for debugging one module.
pub fn init(options: &LogOptions) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&options.level));
    let format = Lines { format: options.format, fields: options.fields.clone() };
    tracing_subscriber::fmt().with_env_filter(filter).event_format(format).with_writer(std::io::stderr).init();
}

/// Formats events as logrus would.
struct Lines {
    format: Format,
    fields: Vec<(String, String)>,
}

/// Collects an event's fields as text.
#[derive(Default)]
struct Collect {
    message: String,
    fields: Vec<(String, String)>,
}

impl tracing::field::Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push((field.name().to_owned(), value.to_owned()));
        }
    }
}

/// logrus quotes a text value unless it is a plain word.
fn text_value(v: &str) -> String {
    let plain = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "-._/@^+:".contains(c));
    if plain { v.to_owned() } else { format!("{v:?}") }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut c = Collect::default();
        event.record(&mut c);
        let time = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        let level = if level == "warn" { "warning".to_owned() } else { level };
        let fields = c.fields.iter().chain(&self.fields);
        match self.format {
            Format::Text => {
                write!(w, "time={time:?} level={level} msg={}", text_value(&c.message))?;
                for (k, v) in fields {
                    write!(w, " {k}={}", text_value(v))?;
                }
                writeln!(w)
            }
            Format::Json | Format::Logstash => {
                let mut obj = Map::new();
                let (time_key, msg_key) =
                    if self.format == Format::Json { ("time", "msg") } else { ("@timestamp", "message") };
                if self.format == Format::Logstash {
                    obj.insert("@version".into(), Value::from("1"));
                }
                obj.insert(time_key.into(), Value::from(time));
                obj.insert("level".into(), Value::from(level));
                obj.insert(msg_key.into(), Value::from(c.message));
                for (k, v) in fields {
                    obj.insert(k.clone(), Value::from(v.as_str()));
                }
                writeln!(w, "{}", Value::Object(obj))
            }
        }
    }
}

/// One request as the access log records it.
pub struct Access<'a> {
    /// The client's address, when known (not on unix sockets).
    pub peer: Option<SocketAddr>,
    /// Method, path and query, protocol version.
    pub request_line: String,
    /// Response status.
    pub status: u16,
    /// Response body size, when known.
    pub bytes: Option<u64>,
    /// `Referer` header.
    pub referer: Option<&'a str>,
    /// `User-Agent` header.
    pub user_agent: Option<&'a str>,
}

/// Writes one line in Apache combined format to stdout, as distribution's
/// access log does.
pub fn access(a: &Access<'_>) {
    let now = OffsetDateTime::now_utc();
    let when = now
        .format(format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"))
        .unwrap_or_default();
    let host = a.peer.map_or("-".to_owned(), |p| p.ip().to_string());
    let bytes = a.bytes.map_or("-".to_owned(), |b| b.to_string());
    let line = format!(
        "{host} - - [{when}] {:?} {} {bytes} {:?} {:?}\n",
        a.request_line,
        a.status,
        a.referer.unwrap_or(""),
        a.user_agent.unwrap_or("")
    );
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_are_quoted_like_logrus() {
        assert_eq!(text_value("registry"), "registry");
        assert_eq!(text_value("two words"), "\"two words\"");
        assert_eq!(text_value(""), "\"\"");
        assert_eq!(text_value("a=\"b\""), "\"a=\\\"b\\\"\"");
    }
}
