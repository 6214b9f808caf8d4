//! `pricesync`: serve the API, or run one operator command.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pricesync::{cli, server, Application, Config};

/// Keeps LLM model prices correct and current.
#[derive(Debug, Parser)]
#[command(name = "pricesync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Only errors on stderr, no progress line (RUST_LOG overrides the log
    /// level).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More log detail: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server and the sync engine (the default): migrates the
    /// database, then serves until SIGINT or SIGTERM.
    Serve,
    /// Check that the server configured here (PRICESYNC_BIND_ADDR) is up:
    /// exits 0 when GET /health (or /ready) answers 200, 1 otherwise. For
    /// a container's or a supervisor's health check.
    Probe {
        /// Ask GET /ready (the database answers and the schema is current)
        /// instead of GET /health (the process serves).
        #[arg(long)]
        ready: bool,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
        timeout: u64,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch one provider's price list and print it normalised, without
    /// touching the database (to check a provider before a sync).
    Fetch {
        /// The provider, e.g. openrouter.
        provider: String,
        /// Print the whole normalised list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a sync now, in the foreground, and print a summary; exits
    /// non-zero unless every provider succeeded.
    Sync {
        /// A provider to sync (repeat for several); default: every provider
        /// of PRICING_SYNC_PROVIDERS.
        #[arg(long = "provider", value_name = "PROVIDER")]
        providers: Vec<String>,
        /// Compute and report the changes, write no prices.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the schedules, each provider's last sync and the active syncs.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recent syncs, newest first.
    Jobs {
        /// Only syncs in this state (queued, in_progress, completed,
        /// partially_failed, failed, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a sync: a queued one at once, a running one at its next safe
    /// point.
    Cancel {
        /// The sync id.
        id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one sync with its per-provider results.
    Job {
        /// The sync id.
        id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the sync leases, or force one free.
    Locks {
        #[command(subcommand)]
        action: Option<LockAction>,
        /// Print as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// List the models a sync skipped, with the reason for each.
    Skipped {
        /// The sync id.
        sync_id: String,
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List price changes held for approval (moved by more than
    /// PRICESYNC_HOLD_FACTOR between two syncs), oldest first.
    Held {
        /// pending (the default), approved, rejected, superseded or all.
        #[arg(long)]
        status: Option<String>,
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a held price change: apply it (recorded in history with
    /// who approved).
    Approve {
        /// The held change's id.
        id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reject a held price change: the old price stays.
    Reject {
        /// The held change's id.
        id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print current prices from the database.
    Prices {
        /// Only this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What a usage cost (read from the database: now, or with --at as of
    /// that instant), with its breakdown per meter. Exits 1 when it cannot
    /// be priced.
    Cost {
        /// The provider, e.g. openrouter.
        #[arg(long)]
        provider: String,
        /// The provider's model id, e.g. anthropic/claude-sonnet-4.5.
        #[arg(long)]
        model: String,
        /// All prompt tokens, cached ones included.
        #[arg(long, default_value_t = 0)]
        input: u64,
        /// All completion tokens, reasoning included.
        #[arg(long, default_value_t = 0)]
        output: u64,
        /// Prompt tokens read from the cache (part of --input).
        #[arg(long, default_value_t = 0)]
        cached: u64,
        /// Prompt tokens written to a 5-minute cache (part of --input).
        #[arg(long, default_value_t = 0)]
        cache_write_5m: u64,
        /// Prompt tokens written to a 1-hour cache (part of --input).
        #[arg(long, default_value_t = 0)]
        cache_write_1h: u64,
        /// Reasoning tokens (part of --output).
        #[arg(long, default_value_t = 0)]
        reasoning: u64,
        /// Web searches.
        #[arg(long, default_value_t = 0)]
        web_searches: u64,
        /// When the request ran (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Also print the total rounded to this many decimal places (half
        /// away from zero).
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=18))]
        round: Option<u32>,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LockAction {
    /// Release a lease whoever holds it (its holder's writes are then
    /// refused by the fence).
    Release {
        /// The lease key, e.g. pricing_sync:openrouter.
        key: String,
    },
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info` for the
/// server, `warn` for the other commands, `error` with `-q`, `debug` /
/// `trace` with `-v` / `-vv`), as text or, with `PRICESYNC_LOG_FORMAT=json`,
/// one JSON object per line (request ids and job ids are fields). Colour
/// only on a terminal and without `NO_COLOR`
/// (<https://no-color.org>). A log line clears the progress line of
/// `pricesync sync` first instead of running into it.
fn init_logging(serving: bool, quiet: bool, verbose: u8) -> Result<(), String> {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) if serving => "info",
        (false, 0) => "warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(cli::StderrBelowProgress);
    match std::env::var("PRICESYNC_LOG_FORMAT").as_deref() {
        Err(_) | Ok("") | Ok("text") => builder.with_ansi(colour).init(),
        Ok("json") => builder.json().with_current_span(true).init(),
        Ok(other) => {
            return Err(format!(
                "invalid PRICESYNC_LOG_FORMAT={other:?}: use text or json"
            ))
        }
    }
    Ok(())
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn run(command: Command, quiet: bool) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    match command {
        Command::Serve => {
            let fetchers = server::configured_fetchers(&config, &env_lookup)?;
            Application::build(&config, fetchers, None)
                .await?
                .run_until_signalled()
                .await?;
        }
        Command::Probe { ready, timeout } => {
            return Ok(cli::probe(config.bind_addr, ready, Duration::from_secs(timeout)).await);
        }
        Command::Migrate { json } => {
            let store = server::open_store(&config).await?;
            let applied = store.migrate().await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"database": store.redacted_url(), "applied": applied})
                );
            } else if applied.is_empty() {
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
        Command::Sync {
            providers,
            dry_run,
            json,
        } => {
            let args = cli::SyncArgs {
                providers,
                dry_run,
                json,
                quiet,
            };
            return cli::sync(&config, args, &env_lookup).await;
        }
        Command::Status { json } => return cli::status(&config, json).await,
        Command::Jobs {
            status,
            limit,
            json,
        } => return cli::jobs(&config, status.as_deref(), limit, json).await,
        Command::Cancel { id, json } => return cli::cancel(&config, &id, json).await,
        Command::Job { id, json } => return cli::job(&config, &id, json).await,
        Command::Locks { action, json } => {
            let release = action
                .as_ref()
                .map(|LockAction::Release { key }| key.as_str());
            return cli::locks(&config, release, json).await;
        }
        Command::Skipped {
            sync_id,
            provider,
            json,
        } => return cli::skipped(&config, &sync_id, provider.as_deref(), json).await,
        Command::Held {
            status,
            provider,
            json,
        } => return cli::held(&config, status.as_deref(), provider.as_deref(), json).await,
        Command::Approve { id, json } => {
            return cli::decide(&config, &id, pricesync_store::Decision::Approve, json).await
        }
        Command::Reject { id, json } => {
            return cli::decide(&config, &id, pricesync_store::Decision::Reject, json).await
        }
        Command::Prices { provider, json } => {
            return cli::prices(&config, provider.as_deref(), json).await
        }
        Command::Cost {
            provider,
            model,
            input,
            output,
            cached,
            cache_write_5m,
            cache_write_1h,
            reasoning,
            web_searches,
            at,
            round,
            json,
        } => {
            let usage = pricesync_domain::Usage {
                input_tokens: input,
                output_tokens: output,
                cache_read_tokens: cached,
                cache_write_5m_tokens: cache_write_5m,
                cache_write_1h_tokens: cache_write_1h,
                reasoning_tokens: reasoning,
                web_searches,
                ..pricesync_domain::Usage::default()
            };
            let item = pricesync::api::types::cost::CostItem {
                provider,
                model,
                usage,
                at,
            };
            return cli::cost(&config, &item, round, json).await;
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
    let serving = matches!(cli.command, None | Some(Command::Serve));
    if let Err(e) = init_logging(serving, cli.quiet, cli.verbose) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
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
    let quiet = cli.quiet;
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), quiet)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
