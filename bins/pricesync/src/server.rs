//! The HTTP server and the sync engine: start-up checks, the actix-web app
//! and graceful shutdown (HTTP first, then the engine).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_server::{Server, ServerHandle};
use actix_web::{web, App};
use anyhow::Context;
use pricesync_engine::{Engine, EngineHandle, SyncHooks};
use pricesync_providers::PriceFetcher;
use pricesync_store::Store;
use tokio::net::TcpSocket;
use utoipa_actix_web::AppExt;

use crate::api;
use crate::api::auth::{AdminPermits, AdminTokens};
use crate::catalogue::Catalogue;
use crate::changes::ChangeSignal;
use crate::config::Config;
use crate::http_guard::ParseGuard;

/// A listening socket with an explicit accept backlog (the standard
/// library's bind queues only 128 connections, and a burst beyond that waits
/// for the client's SYN retry, a full second).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)?.into_std()
}

/// Serves `app` on `listener` as actix-web's `HttpServer` would (its
/// time-outs, workers and graceful stop), with two differences: each
/// connection goes through a [`ParseGuard`], so a request head the HTTP
/// parser refuses is answered with the JSON error shape, not a body-less
/// 400; and the app's `AppConfig` is the default one (host `localhost:8080`
/// for a request without a `Host` header, which only `ConnectionInfo` and
/// `url_for` read: nothing here does), as actix-web keeps its constructor
/// private.
fn serve<F, A, B>(app: F, listener: TcpListener, config: &Config) -> std::io::Result<Server>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    B: actix_web::body::MessageBody + 'static,
    A: actix_service::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    use actix_http::{HttpService, KeepAlive, Protocol};
    use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
    use std::time::Duration;

    let local = listener.local_addr()?;
    let access_log = config.access_log;
    let mut builder = Server::build()
        .disable_signals()
        .shutdown_timeout(config.shutdown_grace.as_secs());
    if let Some(workers) = config.http_workers {
        builder = builder.workers(workers);
    }
    let stopping = builder.graceful_shutdown_signal();
    Ok(builder
        .listen("pricesync-http", listener, move || {
            let stopping = stopping.clone();
            // actix-web's HttpServer defaults.
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(local)
                .finish(map_config(
                    app()
                        .into_factory()
                        .map_err(|error: actix_web::Error| error.error_response()),
                    |_| actix_web::dev::AppConfig::default(),
                ));
            fn_service(move |io: tokio::net::TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok((ParseGuard::new(io, access_log), Protocol::Http1, peer)))
            })
            .and_then(http)
        })?
        .run())
}

/// Opens the store and checks the database answers. Each failure is one
/// line that says what to fix.
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

/// Builds the configured providers' fetchers, reading
/// `<PROVIDER>_BASE_URL`, `<PROVIDER>_API_KEY` and
/// `PRICING_MANUAL_PRICES_FILE` through `lookup`.
pub fn configured_fetchers(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<Arc<dyn PriceFetcher>>> {
    pricesync_providers::build_fetchers(&config.providers, lookup, config.http.clone())
        .context("cannot set up the providers of PRICING_SYNC_PROVIDERS")
}

/// A built, bound server with its engine running.
pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    engine: Arc<EngineHandle>,
    catalogue: Arc<Catalogue>,
    refresher: CatalogueRefresher,
}

/// The task that keeps the in-memory catalogue fresh, stopped with the
/// engine.
struct CatalogueRefresher {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// Feeds the [`ChangeSignal`].
    signal_task: tokio::task::JoinHandle<()>,
}

impl CatalogueRefresher {
    /// Ends the change feed's long polls (they answer at once), so that the
    /// HTTP server's graceful stop does not wait for them.
    fn end_long_polls(&self) {
        self.stop.cancel();
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
        let _ = self.signal_task.await;
    }
}

impl Application {
    /// Opens the store, runs pending migrations, starts the sync engine over
    /// `fetchers` (with `hooks`, if any: tests use them to follow jobs) and
    /// binds the listener (`PRICESYNC_BIND_ADDR`; port 0 picks a free port).
    pub async fn build(
        config: &Config,
        fetchers: Vec<Arc<dyn PriceFetcher>>,
        hooks: Option<Arc<dyn SyncHooks>>,
    ) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        let applied = store
            .migrate()
            .await
            .context("cannot bring the database schema up to date")?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
        let listener = listen(config.bind_addr, config.http_backlog).with_context(|| {
            format!(
                "cannot listen on {} (PRICESYNC_BIND_ADDR); is another process using it?",
                config.bind_addr
            )
        })?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        // The recorder first, so the counters the alerts read exist at zero
        // before the engine's first event.
        if api::ops::prometheus().is_none() {
            tracing::warn!("metrics are not exported: the recorder could not be installed");
        }
        pricesync_engine::metrics::register_at_zero(&config.providers);
        let catalogue = Catalogue::load(store.clone())
            .await
            .context("cannot load the current prices into memory")?;
        let stop = tokio_util::sync::CancellationToken::new();
        let (changes, signal_task) = ChangeSignal::spawn(store.clone(), stop.clone());
        let refresher = CatalogueRefresher {
            task: catalogue.spawn_refresher(config.catalogue_check, &changes, stop.clone()),
            signal_task,
            stop,
        };
        let engine = Arc::new(
            Engine::start(store.clone(), fetchers, config.engine.clone(), hooks)
                .await
                .context("cannot start the sync engine")?,
        );
        if config.admin_tokens.is_empty() {
            tracing::warn!("PRICESYNC_ADMIN_TOKENS is empty: the admin API refuses every request");
        }
        let store_data = web::Data::new(store.clone());
        let catalogue_data = web::Data::from(catalogue.clone());
        let changes_data = web::Data::new(changes);
        let engine_data = web::Data::from(engine.clone());
        let tokens = web::Data::new(AdminTokens(config.admin_tokens.clone()));
        let admin_permits = web::Data::new(AdminPermits::new(config.admin_concurrency));
        let access_log = web::Data::new(api::AccessLog(config.access_log));
        let app = move || {
            App::new()
                .into_utoipa_app()
                .configure(api::routes)
                .into_app()
                .route(
                    crate::http_guard::REFUSED_PATH,
                    web::get().to(crate::http_guard::refused),
                )
                .wrap(api::json_client_errors())
                .wrap(actix_web::middleware::from_fn(
                    api::refuse_unreadable_target,
                ))
                .wrap(actix_web::middleware::from_fn(api::observe))
                .app_data(store_data.clone())
                .app_data(catalogue_data.clone())
                .app_data(changes_data.clone())
                .app_data(engine_data.clone())
                .app_data(tokens.clone())
                .app_data(admin_permits.clone())
                .app_data(access_log.clone())
                .default_service(web::to(api::not_found))
        };
        let server = serve(app, listener, config)
            .with_context(|| format!("cannot serve on {}", config.bind_addr))?;
        tracing::info!(
            address = %format!("{}:{port}", config.bind_addr.ip()),
            database = %store.redacted_url(),
            "pricesync listening"
        );
        Ok(Self {
            port,
            server,
            store,
            engine,
            catalogue,
            refresher,
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

    /// The sync engine.
    pub fn engine(&self) -> Arc<EngineHandle> {
        self.engine.clone()
    }

    /// The in-memory copy of the current prices that prices usages "now".
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.clone()
    }

    /// A handle that stops the HTTP server (the engine keeps running until
    /// [`EngineHandle::shutdown`]).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Application::handle`], then stops the
    /// engine.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.engine.shutdown().await;
        self.refresher.stop().await;
        result
    }

    /// Serves until SIGINT or SIGTERM; then stops taking connections, lets
    /// in-flight requests finish, and shuts the engine down (the running sync
    /// gets the grace period, then goes back to the queue).
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        wait_for_signal().await?;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        self.refresher.end_long_polls();
        handle.stop(true).await;
        server
            .await
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")?;
        self.engine.shutdown().await;
        self.refresher.stop().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() -> anyhow::Result<()> {
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
