//! `pricesync`: serve the API, or run one operator command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pricesync::{cli, server, Application, Config};

/// Keeps LLM model prices correct and current.
#[derive(Debug, Parser)]
#[command(name = "pricesync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server and the sync engine (the default): migrates the
    /// database, then serves until SIGINT or SIGTERM.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fetch one provider's price list and print it normalised, without
    /// touching the database (to check a provider before a sync).
    Fetch {
        /// The provider, e.g. openrouter.
        provider: String,
        /// Print the whole normalised list as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    match command {
        Command::Serve => {
            let fetchers = server::configured_fetchers(&config, &env_lookup)?;
            Application::build(&config, fetchers, None)
                .await?
                .run_until_signalled()
                .await?;
        }
        Command::Migrate => {
            let store = server::open_store(&config).await?;
            let applied = store.migrate().await?;
            if applied.is_empty() {
                println!("database {} is up to date", store.redacted_url());
            } else {
                println!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
        }
        Command::Fetch { provider, json } => {
            return cli::fetch(&config, &provider, json, &env_lookup).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("error: cannot read .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
