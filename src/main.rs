//! The `berth` command.

use std::{path::PathBuf, process::ExitCode};

use berth::{config::Config, server::Server};
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
    /// plain HTTP on 127.0.0.1:5000 with files in ./registry-data.
    Serve {
        /// A distribution config.yml (version 0.1).
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => match load(config) {
            Ok(config) => run(config),
            Err(e) => {
                eprintln!("berth: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn load(path: Option<PathBuf>) -> Result<Config, berth::config::ConfigError> {
    let path = path.or_else(|| std::env::var_os("REGISTRY_CONFIGURATION_PATH").map(PathBuf::from));
    match path {
        Some(path) => Config::load(&path),
        None => Ok(Config::default()),
    }
}

fn run(config: Config) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    for key in &config.warnings {
        tracing::warn!(key = %key, "configuration key accepted but not implemented yet; it has no effect");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::start(&config).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("berth: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("berth listening on http://{}", server.addr);
        tracing::info!(addr = %server.addr, storage = ?config.storage, "serving");
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
