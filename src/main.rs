//! The `berth` command.

use std::{io::Write, net::IpAddr, path::PathBuf, process::ExitCode};

use berth::{
    admin::{self, cert, htpasswd},
    client::{
        command::{self, Action, Remote},
        probe,
    },
    config::{Config, ConfigErrors, Formatter},
    logging::{self, Format, LogOptions},
    registry::GcOptions,
    server::{Server, open_registry, retention_policies},
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
    /// Apply berth.retention's policies: remove old tags and untagged
    /// manifests (blobs stay for `garbage-collect`). Prints one line per
    /// removal, the same in a dry run. Run it with the registry stopped or
    /// read-only, or let the server run it (berth.retention.interval).
    Retention {
        /// Print what would be removed, remove nothing.
        #[arg(short = 'd', long)]
        dry_run: bool,
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
    /// List the repositories of a running registry, one per line, following
    /// the catalog's pages. With PREFIX, only those under it: `a/b` lists
    /// a/b and a/b/..., `library/` the namespace library/. It never lists
    /// tags: that is `berth tags NAME`.
    Ls {
        /// A repository or a namespace ending with `/`.
        prefix: Option<String>,
        /// Ask for pages of N repositories (the registry's default otherwise;
        /// at most its catalog.maxentries).
        #[arg(short = 'n', long = "page-size", value_name = "N")]
        page_size: Option<usize>,
        /// Print {"repositories":[...]} instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the tags of a repository of a running registry, one per line,
    /// following the pages.
    Tags {
        /// The repository, e.g. my/busybox.
        name: String,
        /// Ask for pages of N tags (all at once otherwise).
        #[arg(short = 'n', long = "page-size", value_name = "N")]
        page_size: Option<usize>,
        /// Print {"name":...,"tags":[...]} instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Edit an htpasswd file for auth.htpasswd (bcrypt, as `htpasswd -B`
    /// writes; no apache2-utils needed).
    Htpasswd {
        #[command(subcommand)]
        command: HtpasswdCommand,
    },
    /// Certificates for http.tls.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
}

#[derive(Subcommand)]
enum HtpasswdCommand {
    /// Add a user, or set an existing user's password (its line is replaced
    /// in place; other lines are kept byte for byte). Creates FILE (mode
    /// 0640) if missing. The password comes from --password-stdin or a
    /// prompt; never from the command line, where `ps` and shell history
    /// would show it.
    Add {
        /// The htpasswd file, e.g. auth/htpasswd.
        file: PathBuf,
        /// The user name (no ':' and no control characters).
        user: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// bcrypt cost, 4 to 31; each step doubles the work.
        #[arg(long, default_value_t = htpasswd::DEFAULT_COST, value_parser = clap::value_parser!(u32).range(4..=31))]
        cost: u32,
    },
    /// Remove a user; fails, naming it, when the file has no such user.
    Delete {
        /// The htpasswd file.
        file: PathBuf,
        /// The user name.
        user: String,
    },
    /// Print the users, one per line; entries that are not bcrypt (which
    /// distribution and berth ignore) are marked.
    List {
        /// The htpasswd file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Make a private CA (ca.crt, ca.key) and a server certificate it signs
    /// (server.crt, server.key) for every --host and --ip, then print the
    /// http.tls lines and how to make docker, podman and the system trust
    /// the CA. Keys are written with mode 0600.
    SelfSigned {
        /// A name clients use for the registry (repeat for more); an IP
        /// address here counts as --ip.
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// An IP address clients use (repeat for more); 127.0.0.1 only if given.
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<IpAddr>,
        /// The directory for the four files.
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// The server certificate's validity in days (the CA's is 10 years,
        /// or as long, if longer).
        #[arg(long, default_value_t = cert::DEFAULT_DAYS)]
        days: u32,
        /// The port clients use, for the trust steps printed (certs.d
        /// directories are named HOST:PORT).
        #[arg(long, default_value_t = 5000)]
        port: u16,
        /// Replace all four files in --out, the CA too (clients must then
        /// trust the new ca.crt).
        #[arg(long, conflicts_with = "renew")]
        force: bool,
        /// Keep the CA in --out and replace only server.crt and server.key,
        /// signed by it: clients that trust ca.crt need nothing new.
        #[arg(long)]
        renew: bool,
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
    /// Point a tag at what another tag or a digest names.
    ///
    /// In the same repository, without moving bytes (berth's POST
    /// /v2/_berth/tags/NAME). Refused, changing nothing, if DST_TAG moves
    /// between the read and the write. Prints `NAME:TAG -> DIGEST (was
    /// DIGEST|new)`.
    Copy {
        /// NAME:TAG or NAME@DIGEST, e.g. my/app:beta.
        source: String,
        /// The tag to point, e.g. rc (or my/app:rc).
        destination: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Move several tags of a repository in one step (archive=latest latest=beta).
    ///
    /// Each DST gets the digest its SRC had when all were read: `promote
    /// my/app archive=latest latest=beta` gives archive latest's old digest.
    /// All or nothing: if any tag named moved meanwhile, or a source does not
    /// exist, nothing changes and the command fails.
    Promote {
        /// The repository, e.g. my/app.
        name: String,
        /// DST=SRC, two tags of NAME.
        #[arg(required = true, value_name = "DST=SRC")]
        assignments: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show where a tag pointed over time.
    ///
    /// Newest first, `*` on the current digest: time, digest, how (push,
    /// copy, promote, rollback) and who (`-` without auth).
    History {
        /// NAME:TAG, e.g. my/app:latest.
        reference: String,
        /// Print the registry's JSON document instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Point a tag back at an earlier digest.
    ///
    /// DIGEST must be in the tag's history; without it, the newest digest of
    /// the history that is not the current one.
    Rollback {
        /// NAME:TAG, e.g. my/app:latest.
        reference: String,
        /// sha256:..., from `berth tag history`.
        digest: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Show a manifest (GET with every manifest type accepted): digest,
    /// media type and size; for an image its config, platform, creation
    /// time, layers and total size (manifest, config and layers); for an
    /// index each platform's manifest; and its referrers. The manifest and
    /// config bytes must hash to their digests, or the command fails.
    Inspect {
        /// NAME:TAG or NAME@DIGEST.
        reference: String,
        /// Print one JSON document instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
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
        Command::Retention { dry_run, config } => match load(config) {
            Ok(config) => retention(&config, dry_run),
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
        Command::Tag { command } => run_tag(command),
        Command::Image { command: ImageCommand::Delete { reference, remote } } => {
            run_client(&remote, &Action::Image(reference), "image delete")
        }
        Command::Image { command: ImageCommand::Inspect { reference, json, remote } } => {
            run_client(&remote, &Action::Inspect { reference, json }, "image inspect")
        }
        Command::Ls { prefix, page_size, json, remote } => {
            run_client(&remote, &Action::List { prefix, page_size, json }, "ls")
        }
        Command::Tags { name, page_size, json, remote } => {
            run_client(&remote, &Action::Tags { name, page_size, json }, "tags")
        }
        Command::Htpasswd { command } => {
            let what = match &command {
                HtpasswdCommand::Add { .. } => "htpasswd add",
                HtpasswdCommand::Delete { .. } => "htpasswd delete",
                HtpasswdCommand::List { .. } => "htpasswd list",
            };
            report_admin(what, run_htpasswd(command))
        }
        Command::Cert { command } => report_admin("cert self-signed", run_cert(command)),
    }
}

/// Writes a command's output. A closed stdout (`berth ls | head`) is the
/// reader's choice, not a failure, and must not panic as print! would.
fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// An admin command's output, or its error and status 1.
fn report_admin(what: &str, outcome: anyhow::Result<String>) -> ExitCode {
    match outcome {
        Ok(text) => {
            write_out(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth: {what}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_htpasswd(command: HtpasswdCommand) -> anyhow::Result<String> {
    match command {
        HtpasswdCommand::Add { file, user, password_stdin, cost } => {
            htpasswd::check_user(&user)?;
            let password = admin::password::read(password_stdin)?;
            let file_name = file.display();
            Ok(match htpasswd::add(&file, &user, &password, cost)? {
                htpasswd::Added::Created => format!("created {file_name} with user {user}\n"),
                htpasswd::Added::Appended => format!("added user {user} to {file_name}\n"),
                htpasswd::Added::Replaced => format!("replaced the password of {user} in {file_name}\n"),
            })
        }
        HtpasswdCommand::Delete { file, user } => {
            htpasswd::delete(&file, &user)?;
            Ok(format!("deleted {user} from {}\n", file.display()))
        }
        HtpasswdCommand::List { file } => Ok(htpasswd::list(&file)?
            .iter()
            .map(|u| if u.bcrypt { format!("{}\n", u.name) } else { format!("{} (not bcrypt: ignored)\n", u.name) })
            .collect()),
    }
}

fn run_cert(command: CertCommand) -> anyhow::Result<String> {
    let CertCommand::SelfSigned { hosts, ips, out, days, port, force, renew } = command;
    let request = cert::Request { hosts, ips, days };
    let existing = match (force, renew) {
        (_, true) => cert::Existing::KeepCa,
        (true, false) => cert::Existing::Replace,
        (false, false) => cert::Existing::Refuse,
    };
    let paths = cert::self_signed(&request, &out, existing)?;
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    Ok(format!("wrote {}\n\n{}", names.join(", "), cert::trust_steps(&out, &request, port)))
}

/// `berth tag ...`.
fn run_tag(command: TagCommand) -> ExitCode {
    match command {
        TagCommand::Delete { reference, remote } => run_client(&remote, &Action::Tag(reference), "tag delete"),
        TagCommand::Copy { source, destination, remote } => {
            run_client(&remote, &Action::Copy { source, destination }, "tag copy")
        }
        TagCommand::Promote { name, assignments, remote } => {
            run_client(&remote, &Action::Promote { name, assignments }, "tag promote")
        }
        TagCommand::History { reference, json, remote } => {
            run_client(&remote, &Action::History { reference, json }, "tag history")
        }
        TagCommand::Rollback { reference, digest, remote } => {
            run_client(&remote, &Action::Rollback { reference, digest }, "tag rollback")
        }
    }
}

/// A command against a running registry: its output on success, else the
/// registry's error code and message, and status 1.
fn run_client(remote: &Remote, action: &Action, what: &str) -> ExitCode {
    match command::run(remote, action) {
        Ok(text) => {
            write_out(&text);
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
        let (registry, _) = open_registry(config).await?;
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

fn retention(config: &Config, dry_run: bool) -> ExitCode {
    let apply = async {
        let (registry, _) = open_registry(config).await?;
        let policies = retention_policies(config)?;
        if policies.0.is_empty() {
            eprintln!("berth: retention: berth.retention.policies is empty: nothing to remove");
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        // As for garbage-collect: a closed stdout must not stop a run half-way.
        let report = registry.retention(&policies, dry_run, |line| {
            let _ = writeln!(out, "{line}");
        });
        let report = report.await;
        let _ = out.flush();
        report.map_err(anyhow::Error::from)
    };
    let outcome = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(apply));
    match outcome {
        Ok(report) => {
            for kept in &report.immutable {
                eprintln!(
                    "berth: retention: kept {}:{} (policy {}): immutable (rule {:?})",
                    kept.repository, kept.tag, kept.policy, kept.rule
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth: retention: {e:#}");
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
