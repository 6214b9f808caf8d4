-- The same tables as migrations/postgres, in SQLite's types: uuids, times
-- and decimals are text (times as YYYY-MM-DDTHH:MM:SS.sssZ, UTC, so that
-- text order is time order), booleans are 0/1. Times default to the
-- database clock.

CREATE TABLE models (
    id                TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    provider          TEXT NOT NULL CHECK (length(provider) BETWEEN 1 AND 64 AND provider NOT GLOB '*[^a-z0-9-]*'),
    provider_model_id TEXT NOT NULL CHECK (length(provider_model_id) BETWEEN 1 AND 512),
    display_name      TEXT,
    pricing_kind      TEXT NOT NULL
        CHECK (pricing_kind IN ('metered', 'free', 'dynamic', 'subscription', 'unknown')),
    status            TEXT NOT NULL CHECK (status IN ('active', 'removed')),
    source            TEXT NOT NULL CHECK (source IN ('api', 'manual')),
    context_length    INTEGER CHECK (context_length >= 0),
    first_seen_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (first_seen_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    removed_at        TEXT CHECK (removed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    last_sync_id      TEXT CHECK (length(last_sync_id) = 36),
    CONSTRAINT models_provider_model_key UNIQUE (provider, provider_model_id),
    CONSTRAINT models_removed_at_matches_status
        CHECK ((status = 'removed') = (removed_at IS NOT NULL))
);

-- Current price components. A removed model keeps its last prices here.
CREATE TABLE model_prices (
    model_id          TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             TEXT NOT NULL CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search')),
    min_prompt_tokens INTEGER NOT NULL CHECK (min_prompt_tokens >= 0),
    usd_per_unit      TEXT NOT NULL CHECK (usd_per_unit <> '' AND usd_per_unit NOT GLOB '*[^0-9.]*' AND usd_per_unit NOT GLOB '*.*.*'),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (model_id, meter, min_prompt_tokens)
) WITHOUT ROWID;

-- Every change of a component: old, new, when, which sync. sync_id is not a
-- foreign key: finished jobs are pruned, history is kept for ever.
CREATE TABLE model_pricing_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id          TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             TEXT NOT NULL CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search')),
    min_prompt_tokens INTEGER NOT NULL CHECK (min_prompt_tokens >= 0),
    change            TEXT NOT NULL CHECK (change IN ('added', 'changed', 'removed')),
    old_usd_per_unit  TEXT CHECK (old_usd_per_unit <> '' AND old_usd_per_unit NOT GLOB '*[^0-9.]*' AND old_usd_per_unit NOT GLOB '*.*.*'),
    new_usd_per_unit  TEXT CHECK (new_usd_per_unit <> '' AND new_usd_per_unit NOT GLOB '*[^0-9.]*' AND new_usd_per_unit NOT GLOB '*.*.*'),
    sync_id           TEXT CHECK (length(sync_id) = 36),
    changed_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    CONSTRAINT model_pricing_history_values_match_change CHECK (
        (change = 'added' AND old_usd_per_unit IS NULL AND new_usd_per_unit IS NOT NULL)
        OR (change = 'changed' AND old_usd_per_unit IS NOT NULL AND new_usd_per_unit IS NOT NULL)
        OR (change = 'removed' AND old_usd_per_unit IS NOT NULL AND new_usd_per_unit IS NULL))
);
CREATE INDEX model_pricing_history_model_idx ON model_pricing_history (model_id, id);
CREATE INDEX model_pricing_history_changed_at_idx ON model_pricing_history (changed_at, id);

-- One row per sync request.
CREATE TABLE pricing_sync_jobs (
    id               TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    state            TEXT NOT NULL CHECK (state IN
        ('queued', 'in_progress', 'completed', 'partially_failed', 'failed', 'cancelled')),
    providers        TEXT NOT NULL CHECK (providers <> ''),
    dry_run          INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
    triggered_by     TEXT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    worker           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    started_at       TEXT CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    heartbeat_at     TEXT CHECK (heartbeat_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    finished_at      TEXT CHECK (finished_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    providers_total  INTEGER NOT NULL DEFAULT 0 CHECK (providers_total >= 0),
    providers_done   INTEGER NOT NULL DEFAULT 0
        CHECK (providers_done >= 0 AND providers_done <= providers_total),
    models_processed INTEGER NOT NULL DEFAULT 0 CHECK (models_processed >= 0),
    error            TEXT CHECK (length(error) <= 500),
    schedule_name    TEXT,
    schedule_slot    TEXT CHECK (schedule_slot GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    CONSTRAINT pricing_sync_jobs_finished_after_start
        CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at),
    CONSTRAINT pricing_sync_jobs_finished_iff_terminal
        CHECK ((state IN ('queued', 'in_progress')) = (finished_at IS NULL)),
    CONSTRAINT pricing_sync_jobs_running_has_worker
        CHECK (state <> 'in_progress' OR (worker IS NOT NULL AND started_at IS NOT NULL))
);
CREATE INDEX pricing_sync_jobs_state_idx ON pricing_sync_jobs (state, created_at);
CREATE INDEX pricing_sync_jobs_created_idx ON pricing_sync_jobs (created_at DESC, id DESC);
-- A schedule slot yields at most one job.
CREATE UNIQUE INDEX pricing_sync_jobs_schedule_slot_key
    ON pricing_sync_jobs (schedule_name, schedule_slot) WHERE schedule_name IS NOT NULL;

-- The providers of queued and running jobs: the primary key makes a second
-- active job for a provider impossible without a race.
CREATE TABLE pricing_sync_active_providers (
    provider TEXT PRIMARY KEY NOT NULL,
    job_id   TEXT NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE
);
CREATE INDEX pricing_sync_active_providers_job_idx ON pricing_sync_active_providers (job_id);

-- One row per provider per job.
CREATE TABLE pricing_sync_log (
    id                  TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    job_id              TEXT NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE,
    provider            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped', 'cancelled')),
    models_fetched      INTEGER NOT NULL DEFAULT 0 CHECK (models_fetched >= 0),
    models_added        INTEGER NOT NULL DEFAULT 0 CHECK (models_added >= 0),
    models_updated      INTEGER NOT NULL DEFAULT 0 CHECK (models_updated >= 0),
    models_unchanged    INTEGER NOT NULL DEFAULT 0 CHECK (models_unchanged >= 0),
    models_skipped      INTEGER NOT NULL DEFAULT 0 CHECK (models_skipped >= 0),
    models_removed      INTEGER NOT NULL DEFAULT 0 CHECK (models_removed >= 0),
    errors              INTEGER NOT NULL DEFAULT 0 CHECK (errors >= 0),
    removals_suppressed INTEGER NOT NULL DEFAULT 0 CHECK (removals_suppressed IN (0, 1)),
    duration_ms         INTEGER NOT NULL CHECK (duration_ms >= 0),
    error               TEXT CHECK (length(error) <= 500),
    started_at          TEXT NOT NULL CHECK (started_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    finished_at         TEXT NOT NULL CHECK (finished_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    CONSTRAINT pricing_sync_log_job_provider_key UNIQUE (job_id, provider),
    CONSTRAINT pricing_sync_log_finished_after_start CHECK (finished_at >= started_at)
);
CREATE INDEX pricing_sync_log_provider_idx ON pricing_sync_log (provider, finished_at DESC);

-- Fencing tokens only grow: SQLite has no sequences, so a token is the
-- AUTOINCREMENT id of a row inserted here (old rows may be deleted; ids are
-- never reused).
CREATE TABLE pricing_sync_fence_seq (
    id INTEGER PRIMARY KEY AUTOINCREMENT
);

-- Leases, one row per key (pricing_sync:<provider>).
CREATE TABLE pricing_sync_lock (
    key         TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    holder      TEXT NOT NULL,
    fence       INTEGER NOT NULL CHECK (fence > 0),
    acquired_at TEXT NOT NULL CHECK (acquired_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    renewed_at  TEXT NOT NULL CHECK (renewed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    expires_at  TEXT NOT NULL CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    CONSTRAINT pricing_sync_lock_expires_after_acquired CHECK (expires_at > acquired_at)
);

CREATE TABLE pricing_sync_schedules (
    name                 TEXT PRIMARY KEY NOT NULL,
    providers            TEXT NOT NULL CHECK (providers <> ''),
    interval_seconds     INTEGER NOT NULL CHECK (interval_seconds > 0),
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_run_at          TEXT NOT NULL CHECK (next_run_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    last_slot_at         TEXT CHECK (last_slot_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    last_job_id          TEXT CHECK (length(last_job_id) = 36),
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    version              INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z')
);
