//! The `berth` command.

use std::{io::Write, path::PathBuf, process::ExitCode};

use berth::{
    client::{
        command::{self, Action, Remote},
        probe,
    },
    config::{Config, ConfigErrors, Formatter},
    logging::{self, Format, LogOptions},
    registry::GcOptions,
    server::{Server, open_registry},
};
use clap::{Parser, Subcommand};

/// A private container image registry, drop-in for CNCF distribution.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry. Without CONFIG (or REGISTRY_CONFIGURATION_PATH),
    /// /etc/distribution/config.yml or /etc/docker/registry/config.yml, else
    /// plain HTTP on 127.0.0.1:5000 with files in ./registry-data.
    Serve {
        /// A distribution config.yml (version 0.1).
        config: Option<PathBuf>,
    },
    /// Delete what no manifest references, as distribution's
    /// `registry garbage-collect`. Run it with the registry stopped or in
    /// read-only mode.
    #[command(name = "garbage-collect")]
    GarbageCollect {
        /// Print what would be deleted, delete nothing.
        #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
        dry_run: bool,
        /// Also delete manifests no tag reaches (children of tagged indexes stay).
        #[arg(short = 'm', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
        delete_untagged: bool,
        /// Print nothing but errors.
        #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
        quiet: bool,
        /// Spare what was written or used this recently (a Go duration:
        /// 30m, 1h). Default: berth.gc.grace (1h), or 0 when the
        /// configuration is in read-only mode, where nothing can be pushed.
        #[arg(long, value_parser = parse_duration)]
        grace: Option<std::time::Duration>,
        /// A distribution config.yml (version 0.1).
        config: Option<PathBuf>,
    },
    /// Exit 0 if the registry answers `GET /v2/` with 200 or 401 (auth),
    /// else 1: the container image's HEALTHCHECK. Asks URL, else the port
    /// and scheme of the configuration `serve` would read without CONFIG
    /// (on loopback for a wildcard http.addr); certificates are not checked.
    Healthcheck {
        /// The /v2/ URL to ask, such as https://127.0.0.1:5000/v2/.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// A distribution config.yml (version 0.1).
        config: Option<PathBuf>,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Repositories of a running registry.
    Repo {
        #[command(subcommand)]
        command: RepoCommand,
    },
    /// Tags of a running registry.
    Tag {
        #[command(subcommand)]
        command: TagCommand,
    },
    /// Images (manifests) of a running registry.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
}

#[derive(Subcommand)]
enum RepoCommand {
    /// Delete a repository: its tags, manifests, blob links and uploads
    /// (berth's DELETE /v2/_berth/repositories/NAME). Nested repositories
    /// (NAME/...) stay; blobs stay until `berth garbage-collect`.
    Delete {
        /// The repository, e.g. my/busybox.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum TagCommand {
    /// Delete a tag (DELETE /v2/NAME/manifests/TAG). The manifest it pointed
    /// at stays, reachable by digest and by its other tags.
    Delete {
        /// NAME:TAG, e.g. my/busybox:1.0.
        reference: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Delete an image's manifest and every tag pointing at it. A tag is
    /// resolved to its digest first (HEAD with every manifest type); prints
    /// the digest deleted.
    Delete {
        /// NAME:TAG or NAME@DIGEST.
        reference: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load the configuration as `serve` would (file, then REGISTRY_*
    /// variables) and print it with defaults filled in and secrets masked;
    /// or print every problem and exit with status 2.
    Check {
        /// A distribution config.yml (version 0.1).
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => match load(config) {
            Ok(config) => run(config),
            Err(e) => refuse(&e),
        },
        Command::GarbageCollect { dry_run, delete_untagged, quiet, grace, config } => match load(config) {
            Ok(config) => {
                let grace = grace.unwrap_or_else(|| config.gc_grace());
                garbage_collect(&config, GcOptions { dry_run, delete_untagged, grace }, quiet)
            }
            Err(e) => refuse(&e),
        },
        Command::Config { command: ConfigCommand::Check { config } } => match load(config) {
            Ok(config) => {
                print!("{}", report(&config));
                ExitCode::SUCCESS
            }
            Err(e) => refuse(&e),
        },
        Command::Healthcheck { url, config } => healthcheck(url, config),
        Command::Repo { command: RepoCommand::Delete { name, remote } } => {
            run_client(&remote, &Action::Repository(name), "repo delete")
        }
        Command::Tag { command: TagCommand::Delete { reference, remote } } => {
            run_client(&remote, &Action::Tag(reference), "tag delete")
        }
        Command::Image { command: ImageCommand::Delete { reference, remote } } => {
            run_client(&remote, &Action::Image(reference), "image delete")
        }
    }
}

/// A command against a running registry: its line on success, else the
/// registry's error code and message, and status 1.
fn run_client(remote: &Remote, action: &Action, what: &str) -> ExitCode {
    match command::run(remote, action) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth: {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `healthcheck`: nothing on stdout, the reason on stderr when unhealthy
/// (docker keeps the output of the last probes). Status 1, never 2, which
/// docker reserves.
fn healthcheck(url: Option<String>, config: Option<PathBuf>) -> ExitCode {
    let answer = match url {
        Some(url) => probe::probe(&url).map_err(|e| e.to_string()),
        None => load(config)
            .map_err(|errors| errors.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            .and_then(|config| probe::local_url(&config).map_err(|e| e.to_string()))
            .and_then(|url| probe::probe(&url).map_err(|e| e.to_string())),
    };
    match answer {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

fn garbage_collect(config: &Config, options: GcOptions, quiet: bool) -> ExitCode {
    let collect = async {
        let (registry, _) = open_registry(config)?;
        // Buffered: a collection prints a line per manifest and blob. A
        // closed stdout (`| head`) must not stop a sweep half-way, so write
        // errors are ignored.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let report = registry.garbage_collect(options, |line| {
            if !quiet {
                let _ = writeln!(out, "{line}");
            }
        });
        let report = report.await;
        let _ = out.flush();
        report.map_err(anyhow::Error::from)
    };
    let outcome = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(collect));
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: garbage-collect: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    berth::config::duration::parse(text).ok_or_else(|| format!("{text:?} is not a duration such as 30m or 1h"))
}

/// The configuration from its file and the process environment.
fn load(path: Option<PathBuf>) -> Result<Config, ConfigErrors> {
    // Variables that are not UTF-8 cannot be REGISTRY_* overrides.
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    Config::load(path.as_deref(), env)
}

/// Prints every problem; status 2, as for a usage error.
fn refuse(errors: &ConfigErrors) -> ExitCode {
    for e in &errors.0 {
        eprintln!("berth: {e}");
    }
    ExitCode::from(2)
}

/// `config check`'s output: where the configuration came from and its
/// warnings as YAML comments around the effective configuration.
fn report(config: &Config) -> String {
    let source = match &config.origin.file {
        Some(file) => format!("# berth configuration from {}\n", file.display()),
        None => "# berth configuration: the embedded default (no config.yml found)\n".to_owned(),
    };
    let variables = match config.origin.variables.as_slice() {
        [] => String::new(),
        vars => format!("# with {}\n", vars.join(", ")),
    };
    let warnings: String = config.warnings.iter().map(|w| format!("# warning: {w}\n")).collect();
    format!("{source}{variables}{}{warnings}", config.to_yaml())
}

fn run(config: Config) -> ExitCode {
    logging::init(&LogOptions {
        level: config.log.level.as_str().to_owned(),
        format: match config.log.formatter {
            Formatter::Text => Format::Text,
            Formatter::Json => Format::Json,
            Formatter::Logstash => Format::Logstash,
        },
        fields: config.log.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    });
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // Before anyone can learn the address: a SIGTERM that came before the
        // handler would kill the process instead of draining it.
        let stop = match stop_signals() {
            Ok(stop) => stop,
            Err(e) => {
                eprintln!("berth: cannot handle signals: {e}");
                return ExitCode::FAILURE;
            }
        };
        let server = match Server::start(&config).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("berth: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let origin = match &config.origin.file {
            Some(file) => file.display().to_string(),
            None => "the embedded default (files in ./registry-data)".to_owned(),
        };
        // One write: the server already answers, and access log lines must
        // not land between these two.
        println!("berth listening on {}\nberth configuration: {origin}", server.url);
        tracing::info!(url = %server.url, storage = config.storage.driver.name(), "serving");
        stop.await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGTERM or SIGINT; the handlers are installed at once.
fn stop_signals() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
