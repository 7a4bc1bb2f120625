//! The client commands (`berth ls`, `berth tags`, `berth image inspect`,
//! `berth repo|tag|image delete`, `berth tag copy|promote|history|rollback`):
//! where the registry, the credentials and the trust come from, and what is
//! printed.

use std::{io::BufRead, path::PathBuf};

use super::{Client, ClientError, Credentials, Trust, lifecycle, list, output, progress::Progress, target};

/// Where no `--registry` or `BERTH_REGISTRY` says otherwise.
const DEFAULT_REGISTRY: &str = "http://127.0.0.1:5000";

/// How to reach a running registry.
#[derive(clap::Args, Debug)]
pub struct Remote {
    /// The registry's URL, http:// or https:// [env: BERTH_REGISTRY] [default: http://127.0.0.1:5000]
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
    /// The user to log in as [env: BERTH_USERNAME]
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Read the password from the first line of stdin [else env: BERTH_PASSWORD]
    #[arg(long)]
    password_stdin: bool,
    /// Trust only the CA certificates in this PEM file (self-signed setups)
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Do not verify the registry's certificate
    #[arg(long, conflicts_with = "cacert")]
    insecure: bool,
}

/// What to list, show or delete.
#[derive(Debug)]
pub enum Action {
    /// `ls [PREFIX]`: the catalog, or its part under PREFIX.
    List {
        /// A repository or namespace (`library/`) to list under.
        prefix: Option<String>,
        /// The page size to ask for (`n`), else the registry's.
        page_size: Option<usize>,
        /// `--json`.
        json: bool,
    },
    /// `tags NAME`.
    Tags {
        /// The repository.
        name: String,
        /// The page size to ask for (`n`), else every tag at once.
        page_size: Option<usize>,
        /// `--json`.
        json: bool,
    },
    /// `image inspect NAME:TAG|NAME@DIGEST`.
    Inspect {
        /// The reference.
        reference: String,
        /// `--json`.
        json: bool,
    },
    /// `repo delete NAME`.
    Repository(String),
    /// `tag delete NAME:TAG`.
    Tag(String),
    /// `image delete NAME:TAG|NAME@DIGEST`.
    Image(String),
    /// `tag copy SRC_REF DST_TAG`.
    Copy {
        /// NAME:TAG or NAME@DIGEST.
        source: String,
        /// TAG, or NAME:TAG with the source's NAME.
        destination: String,
    },
    /// `tag promote NAME DST=SRC...`.
    Promote {
        /// The repository.
        name: String,
        /// The `DST=SRC` pairs.
        assignments: Vec<String>,
    },
    /// `tag history NAME:TAG`.
    History {
        /// NAME:TAG.
        reference: String,
        /// `--json`.
        json: bool,
    },
    /// `tag rollback NAME:TAG [DIGEST]`.
    Rollback {
        /// NAME:TAG.
        reference: String,
        /// The digest to go back to, else the newest one before the current.
        digest: Option<String>,
    },
}

/// Runs one command; what to print on stdout on success (whole lines).
pub fn run(remote: &Remote, action: &Action) -> Result<String, ClientError> {
    // Checked before anything is sent, and before a password is read.
    if let Action::List { prefix: Some(prefix), .. } = action {
        target::repository(prefix.strip_suffix('/').unwrap_or(prefix))?;
    }
    let mut client = connect(remote)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(perform(&mut client, action))
}

/// Sends what `action` needs; what to print.
async fn perform(client: &mut Client, action: &Action) -> Result<String, ClientError> {
    match action {
        Action::List { prefix, page_size, json } => {
            let keep = list::under(prefix.as_deref().unwrap_or_default());
            let names = client.repositories(*page_size, keep, &mut Progress::on_stderr()).await?;
            Ok(output::repositories(&names, *json))
        }
        Action::Tags { name, page_size, json } => {
            let name = target::repository(name)?;
            let tags = client.tags(&name, *page_size, &mut Progress::on_stderr()).await?;
            Ok(output::tags(name.as_str(), &tags, *json))
        }
        Action::Inspect { reference, json } => {
            let (name, reference) = target::reference(reference)?;
            let found = client.inspect(&name, &reference, &mut Progress::on_stderr()).await?;
            Ok(output::inspection(&found, *json))
        }
        Action::Repository(text) => {
            let name = target::repository(text)?;
            client.delete_repository(&name).await?;
            Ok(format!("deleted repository {name}; its blobs stay until `berth garbage-collect`\n"))
        }
        Action::Tag(text) => {
            let (name, tag) = target::tagged(text, "to delete by digest, use `image delete`")?;
            client.delete_tag(&name, &tag).await?;
            Ok(format!("deleted tag {name}:{tag}; the manifest it pointed at stays, reachable by digest\n"))
        }
        Action::Image(text) => {
            let (name, reference) = target::reference(text)?;
            let digest = client.delete_image(&name, &reference).await?;
            Ok(format!("deleted {name}@{digest} and every tag pointing at it\n"))
        }
        Action::Copy { source, destination } => lifecycle::copy(client, source, destination).await,
        Action::Promote { name, assignments } => lifecycle::promote(client, name, assignments).await,
        Action::History { reference, json } => lifecycle::history(client, reference, *json).await,
        Action::Rollback { reference, digest } => lifecycle::rollback(client, reference, digest.as_deref()).await,
    }
}

fn connect(remote: &Remote) -> Result<Client, ClientError> {
    let registry = remote.registry.clone().or_else(|| env("BERTH_REGISTRY"));
    let trust = match (&remote.cacert, remote.insecure) {
        (_, true) => Trust::Insecure,
        (Some(file), false) => Trust::CaFile(file.clone()),
        (None, false) => Trust::System,
    };
    Client::new(registry.as_deref().unwrap_or(DEFAULT_REGISTRY), &trust, credentials(remote)?)
}

/// The credentials from the flags, else the environment; none at all is
/// fine (a registry without auth), half of them is a mistake.
fn credentials(remote: &Remote) -> Result<Option<Credentials>, ClientError> {
    let username = remote.username.clone().or_else(|| env("BERTH_USERNAME"));
    let password = if remote.password_stdin { Some(stdin_line()?) } else { env("BERTH_PASSWORD") };
    match (username, password) {
        (Some(username), Some(password)) => Ok(Some(Credentials { username, password })),
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err(ClientError::Usage("a user name needs a password: --password-stdin or BERTH_PASSWORD".into()))
        }
        (None, Some(_)) => Err(ClientError::Usage("a password needs a user name: --username or BERTH_USERNAME".into())),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The first line of stdin, without its line ending (as `docker login
/// --password-stdin` reads it).
fn stdin_line() -> Result<String, ClientError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| ClientError::Usage(format!("reading stdin: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
