//! The current price cards, in memory, so that a usage priced "now" needs no
//! database query.
//!
//! The copy is loaded at start and reloaded when it may be out of date:
//! - **this process's writes** (its own syncs): the store counts the
//!   catalogue writes it commits ([`Store::watch_price_writes`]), right
//!   after each commit. Every lookup compares that count with the count the
//!   copy was loaded at (no query) and, when it is behind, waits for a
//!   reload; a background task also reloads as soon as the count moves. So
//!   a usage priced after this process's sync committed always gets the new
//!   prices.
//! - **other processes' writes** (replicas, `pricesync sync`): every
//!   `PRICESYNC_CATALOGUE_CHECK_SECS` the background task reads the
//!   database's catalogue version (one primary-key read), which grows with
//!   every committed write in commit order, and reloads when it moved. Such
//!   a change is priced here at most that interval (plus one reload) after
//!   its commit. On PostgreSQL the task also reloads as soon as the
//!   process's [`ChangeSignal`] ticks (`NOTIFY pricing_catalogue`), so the
//!   interval is only the bound when notifications are lost.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pricesync_domain::PriceCard;
use pricesync_store::{ModelCard, Store, StoreResult};
use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;

use crate::changes::ChangeSignal;

/// One model's current card, with its form for the cost function built
/// once.
#[derive(Debug)]
pub struct CatalogueCard {
    /// The card as stored.
    pub card: ModelCard,
    /// The card as [`pricesync_domain::cost`] reads it.
    pub price: PriceCard,
}

/// A loaded copy of the catalogue.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The database's catalogue version it was loaded at.
    version: i64,
    /// The store's count of local writes it was loaded at.
    local_writes: u64,
    /// The latest price history id read before the cards: they hold every
    /// change up to it (the change feed's cursor of this copy).
    history_cursor: i64,
    /// Cards by provider, then model id.
    by_provider: HashMap<String, HashMap<String, Arc<CatalogueCard>>>,
}

impl Snapshot {
    /// The current card of a model; `None` when it is not known.
    pub fn card(&self, provider: &str, model_id: &str) -> Option<&Arc<CatalogueCard>> {
        self.by_provider.get(provider)?.get(model_id)
    }

    /// The change feed's cursor of this copy: every change up to it is in
    /// the cards (later ones may be too).
    pub fn history_cursor(&self) -> i64 {
        self.history_cursor
    }

    /// Every card, by provider then model id (in no order).
    pub fn cards(&self) -> impl Iterator<Item = &Arc<CatalogueCard>> {
        self.by_provider.values().flat_map(HashMap::values)
    }

    /// How many models it holds.
    pub fn len(&self) -> usize {
        self.by_provider.values().map(HashMap::len).sum()
    }

    /// Whether it holds no model.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-memory catalogue of current cards (see the module docs).
pub struct Catalogue {
    store: Store,
    current: RwLock<Arc<Snapshot>>,
    local_writes: watch::Receiver<u64>,
    /// One reload at a time; callers that wait on it find the copy fresh.
    reloading: Mutex<()>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("models", &self.current().len())
            .finish()
    }
}

impl Catalogue {
    /// Loads every current card from `store`.
    pub async fn load(store: Store) -> StoreResult<Arc<Self>> {
        let local_writes = store.watch_price_writes();
        let catalogue = Arc::new(Self {
            store,
            current: RwLock::new(Arc::new(Snapshot::default())),
            local_writes,
            reloading: Mutex::new(()),
        });
        catalogue.reload().await?;
        Ok(catalogue)
    }

    /// The copy as it is, whether or not it is behind.
    fn current(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a panic while swapping an `Arc`: the
        // value inside is whole.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn behind_local_writes(&self, snapshot: &Snapshot) -> bool {
        *self.local_writes.borrow() != snapshot.local_writes
    }

    /// The copy, up to date with every write this process committed: when
    /// one committed since the copy was loaded, waits for a reload.
    pub async fn snapshot(&self) -> StoreResult<Arc<Snapshot>> {
        let snapshot = self.current();
        if !self.behind_local_writes(&snapshot) {
            return Ok(snapshot);
        }
        let _reloading = self.reloading.lock().await;
        let snapshot = self.current();
        if !self.behind_local_writes(&snapshot) {
            return Ok(snapshot);
        }
        self.reload_locked().await
    }

    /// Reloads when the database's catalogue version or this process's
    /// write count moved since the copy was loaded; returns whether it
    /// reloaded. This is what the periodic check runs.
    pub async fn refresh(&self) -> StoreResult<bool> {
        let _reloading = self.reloading.lock().await;
        let snapshot = self.current();
        if !self.behind_local_writes(&snapshot)
            && self.store.catalogue_version().await? == snapshot.version
        {
            return Ok(false);
        }
        self.reload_locked().await?;
        Ok(true)
    }

    async fn reload(&self) -> StoreResult<Arc<Snapshot>> {
        let _reloading = self.reloading.lock().await;
        self.reload_locked().await
    }

    /// Loads every card; the caller holds `reloading`. The write count and
    /// the version are read before the cards: a write committed during the
    /// load leaves the copy marked behind, never ahead.
    async fn reload_locked(&self) -> StoreResult<Arc<Snapshot>> {
        let local_writes = *self.local_writes.borrow();
        let loaded = self.store.load_catalogue().await?;
        let mut by_provider: HashMap<String, HashMap<String, Arc<CatalogueCard>>> = HashMap::new();
        for card in loaded.cards {
            let price = card.price_card();
            by_provider
                .entry(card.provider.clone())
                .or_default()
                .insert(
                    card.model_id.clone(),
                    Arc::new(CatalogueCard { card, price }),
                );
        }
        let snapshot = Arc::new(Snapshot {
            version: loaded.version,
            local_writes,
            history_cursor: loaded.history_cursor,
            by_provider,
        });
        match self.current.write() {
            Ok(mut guard) => *guard = snapshot.clone(),
            Err(poisoned) => *poisoned.into_inner() = snapshot.clone(),
        }
        tracing::debug!(
            models = snapshot.len(),
            version = snapshot.version,
            "catalogue loaded"
        );
        Ok(snapshot)
    }

    /// Keeps the copy fresh until `stop`: reloads as soon as `changes`
    /// ticks (this process's commits, and other processes' on PostgreSQL),
    /// and checks the database's version every `every` besides.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        every: Duration,
        changes: &ChangeSignal,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let catalogue = self.clone();
        let mut local_writes = changes.subscribe();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                    changed = local_writes.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
                if let Err(e) = catalogue.refresh().await {
                    tracing::warn!(error = %e, "cannot refresh the in-memory catalogue; prices of other replicas' syncs may be late");
                }
            }
        })
    }
}
