//! `log` and the deprecated top-level `loglevel`.

use std::collections::BTreeMap;

use crate::config::{
    section::{Section, Visitor},
    value::{Secret, keywords},
};

keywords! {
    /// `log.level`: how much is logged. distribution lower-cases the value.
    #[derive(Default)]
    pub enum LogLevel {
        /// Errors only.
        Error = "error",
        /// Errors and warnings.
        Warn = "warn",
        /// The default.
        #[default]
        Info = "info",
        /// Everything.
        Debug = "debug",
    }
}

keywords! {
    /// `log.formatter`: how log lines are encoded.
    #[derive(Default)]
    pub enum Formatter {
        /// `key=value` text, the default.
        #[default]
        Text = "text",
        /// One JSON object per line.
        Json = "json",
        /// JSON with Logstash's field names.
        Logstash = "logstash",
    }
}

/// `log`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Log {
    /// `log.accesslog`.
    pub accesslog: AccessLog,
    /// `log.level` (default `info`, or the old top-level `loglevel`).
    pub level: LogLevel,
    /// `log.formatter` (default `text`).
    pub formatter: Formatter,
    /// `log.fields`: static fields added to every log line.
    pub fields: BTreeMap<String, String>,
    /// `log.hooks`: mail sent on log lines of chosen levels.
    pub hooks: Vec<LogHook>,
    /// `log.reportcaller` (3.x): log the calling function.
    pub reportcaller: bool,
}

impl Section for Log {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("accesslog", &mut self.accesslog);
        v.value("level", &mut self.level);
        v.value("formatter", &mut self.formatter);
        v.value("fields", &mut self.fields);
        v.list("hooks", &mut self.hooks);
        v.value("reportcaller", &mut self.reportcaller);
    }
}

/// `log.accesslog`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessLog {
    /// `log.accesslog.disabled`: no access log (Combined Log Format, stdout).
    pub disabled: bool,
}

impl Section for AccessLog {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("disabled", &mut self.disabled);
    }
}

/// `log.hooks[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogHook {
    /// `type`: the only hook distribution has is `mail`.
    pub kind: String,
    /// `disabled`.
    pub disabled: bool,
    /// `levels`: the log levels that trigger the hook.
    pub levels: Vec<String>,
    /// `options` (Go field `MailOptions`).
    pub options: MailOptions,
}

impl Default for LogHook {
    fn default() -> Self {
        LogHook { kind: "mail".into(), disabled: false, levels: Vec::new(), options: MailOptions::default() }
    }
}

impl Section for LogHook {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("type", &mut self.kind);
        v.value("disabled", &mut self.disabled);
        v.value("levels", &mut self.levels);
        v.section("options", &mut self.options);
    }
}

/// `log.hooks[].options`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailOptions {
    /// `smtp`.
    pub smtp: Smtp,
    /// `from`: the sender address.
    pub from: String,
    /// `to`: the recipients.
    pub to: Vec<String>,
}

impl Section for MailOptions {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.section("smtp", &mut self.smtp);
        v.value("from", &mut self.from);
        v.value("to", &mut self.to);
    }
}

/// `log.hooks[].options.smtp`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Smtp {
    /// `addr`: host:port of the mail server.
    pub addr: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: Option<Secret>,
    /// `insecure`: skip verifying the server's certificate.
    pub insecure: bool,
}

impl Section for Smtp {
    fn visit<V: Visitor>(&mut self, v: &mut V) {
        v.value("addr", &mut self.addr);
        v.value("username", &mut self.username);
        v.value("password", &mut self.password);
        v.value("insecure", &mut self.insecure);
    }
}
