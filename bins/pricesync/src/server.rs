//! The HTTP server: start-up checks, the actix-web app and graceful shutdown.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use pricesync_store::Store;

use crate::api;
use crate::config::Config;

/// Opens the store, checks the database answers and brings its schema up to
/// date. Each failure is one line that says what to fix.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, &config.pool).with_context(|| {
        format!(
            "cannot open the database {}",
            config.database_url.redacted()
        )
    })?;
    store.ping().await.with_context(|| {
        format!(
            "cannot reach the database at {}; check DATABASE_URL and that the database server runs",
            config.database_url.redacted()
        )
    })?;
    Ok(store)
}

/// A built, bound server that has not started serving yet.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
}

impl Application {
    /// Opens the store, runs pending migrations and binds the listener
    /// (`PRICESYNC_BIND_ADDR`; port 0 picks a free port).
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        let applied = store
            .migrate()
            .await
            .context("cannot bring the database schema up to date")?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
        let listener = TcpListener::bind(config.bind_addr).with_context(|| {
            format!(
                "cannot listen on {} (PRICESYNC_BIND_ADDR); is another process using it?",
                config.bind_addr
            )
        })?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let data = web::Data::new(store.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(api::configure)
                .default_service(web::to(api::not_found))
        })
        .disable_signals()
        .shutdown_timeout(config.shutdown_grace.as_secs());
        if let Some(workers) = config.http_workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)
            .with_context(|| format!("cannot serve on {}", config.bind_addr))?
            .run();
        tracing::info!(
            address = %format!("{}:{port}", config.bind_addr.ip()),
            database = %store.redacted_url(),
            "pricesync listening"
        );
        Ok(Self {
            port,
            server,
            store,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store the server uses.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Application::handle`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGINT or SIGTERM, then stops taking connections and lets
    /// in-flight requests finish within the grace period.
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        wait_for_signal().await?;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        handle.stop(true).await;
        server
            .await
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}
