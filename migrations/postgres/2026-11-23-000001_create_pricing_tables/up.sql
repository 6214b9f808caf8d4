-- Every table of the price catalogue, the sync jobs, their log, the leases
-- and the schedules. Table names follow the system pricesync replaces so
-- that its operators' SQL keeps working. Times default to the database clock.

CREATE TABLE models (
    id                uuid PRIMARY KEY,
    provider          text NOT NULL CHECK (provider ~ '^[a-z0-9-]{1,64}$'),
    provider_model_id text NOT NULL CHECK (length(provider_model_id) BETWEEN 1 AND 512),
    display_name      text,
    pricing_kind      text NOT NULL
        CHECK (pricing_kind IN ('metered', 'free', 'dynamic', 'subscription', 'unknown')),
    status            text NOT NULL CHECK (status IN ('active', 'removed')),
    source            text NOT NULL CHECK (source IN ('api', 'manual')),
    context_length    bigint CHECK (context_length >= 0),
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    removed_at        timestamptz,
    last_sync_id      uuid,
    CONSTRAINT models_provider_model_key UNIQUE (provider, provider_model_id),
    CONSTRAINT models_removed_at_matches_status
        CHECK ((status = 'removed') = (removed_at IS NOT NULL))
);

-- Current price components. A removed model keeps its last prices here.
CREATE TABLE model_prices (
    model_id          uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             text NOT NULL CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search')),
    min_prompt_tokens bigint NOT NULL CHECK (min_prompt_tokens >= 0),
    usd_per_unit      numeric NOT NULL CHECK (usd_per_unit >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, meter, min_prompt_tokens)
);

-- Every change of a component: old, new, when, which sync. sync_id is not a
-- foreign key: finished jobs are pruned, history is kept for ever.
CREATE TABLE model_pricing_history (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id          uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             text NOT NULL CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search')),
    min_prompt_tokens bigint NOT NULL CHECK (min_prompt_tokens >= 0),
    change            text NOT NULL CHECK (change IN ('added', 'changed', 'removed')),
    old_usd_per_unit  numeric CHECK (old_usd_per_unit >= 0),
    new_usd_per_unit  numeric CHECK (new_usd_per_unit >= 0),
    sync_id           uuid,
    changed_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_pricing_history_values_match_change CHECK (
        (change = 'added' AND old_usd_per_unit IS NULL AND new_usd_per_unit IS NOT NULL)
        OR (change = 'changed' AND old_usd_per_unit IS NOT NULL AND new_usd_per_unit IS NOT NULL)
        OR (change = 'removed' AND old_usd_per_unit IS NOT NULL AND new_usd_per_unit IS NULL))
);
CREATE INDEX model_pricing_history_model_idx ON model_pricing_history (model_id, id);
CREATE INDEX model_pricing_history_changed_at_idx ON model_pricing_history (changed_at, id);

-- One row per sync request.
CREATE TABLE pricing_sync_jobs (
    id               uuid PRIMARY KEY,
    state            text NOT NULL CHECK (state IN
        ('queued', 'in_progress', 'completed', 'partially_failed', 'failed', 'cancelled')),
    providers        text NOT NULL CHECK (providers <> ''),
    dry_run          boolean NOT NULL DEFAULT false,
    triggered_by     text NOT NULL,
    attempt          integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    worker           text,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    heartbeat_at     timestamptz,
    finished_at      timestamptz,
    providers_total  integer NOT NULL DEFAULT 0 CHECK (providers_total >= 0),
    providers_done   integer NOT NULL DEFAULT 0
        CHECK (providers_done >= 0 AND providers_done <= providers_total),
    models_processed bigint NOT NULL DEFAULT 0 CHECK (models_processed >= 0),
    error            text CHECK (char_length(error) <= 500),
    schedule_name    text,
    schedule_slot    timestamptz,
    CONSTRAINT pricing_sync_jobs_finished_after_start
        CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at),
    CONSTRAINT pricing_sync_jobs_finished_iff_terminal
        CHECK ((state IN ('queued', 'in_progress')) = (finished_at IS NULL)),
    CONSTRAINT pricing_sync_jobs_running_has_worker
        CHECK (state <> 'in_progress' OR (worker IS NOT NULL AND started_at IS NOT NULL))
);
CREATE INDEX pricing_sync_jobs_state_idx ON pricing_sync_jobs (state, created_at);
CREATE INDEX pricing_sync_jobs_created_idx ON pricing_sync_jobs (created_at DESC, id DESC);
-- A schedule slot yields at most one job, whatever the number of replicas.
CREATE UNIQUE INDEX pricing_sync_jobs_schedule_slot_key
    ON pricing_sync_jobs (schedule_name, schedule_slot) WHERE schedule_name IS NOT NULL;

-- The providers of queued and running jobs: the primary key makes a second
-- active job for a provider impossible, across replicas, without a race.
CREATE TABLE pricing_sync_active_providers (
    provider text PRIMARY KEY,
    job_id   uuid NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE
);
CREATE INDEX pricing_sync_active_providers_job_idx ON pricing_sync_active_providers (job_id);

-- One row per provider per job.
CREATE TABLE pricing_sync_log (
    id                  uuid PRIMARY KEY,
    job_id              uuid NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    status              text NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped', 'cancelled')),
    models_fetched      integer NOT NULL DEFAULT 0 CHECK (models_fetched >= 0),
    models_added        integer NOT NULL DEFAULT 0 CHECK (models_added >= 0),
    models_updated      integer NOT NULL DEFAULT 0 CHECK (models_updated >= 0),
    models_unchanged    integer NOT NULL DEFAULT 0 CHECK (models_unchanged >= 0),
    models_skipped      integer NOT NULL DEFAULT 0 CHECK (models_skipped >= 0),
    models_removed      integer NOT NULL DEFAULT 0 CHECK (models_removed >= 0),
    errors              integer NOT NULL DEFAULT 0 CHECK (errors >= 0),
    removals_suppressed boolean NOT NULL DEFAULT false,
    duration_ms         bigint NOT NULL CHECK (duration_ms >= 0),
    error               text CHECK (char_length(error) <= 500),
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL,
    CONSTRAINT pricing_sync_log_job_provider_key UNIQUE (job_id, provider),
    CONSTRAINT pricing_sync_log_finished_after_start CHECK (finished_at >= started_at)
);
CREATE INDEX pricing_sync_log_provider_idx ON pricing_sync_log (provider, finished_at DESC);

-- Fencing tokens only grow.
CREATE SEQUENCE pricing_sync_fence_seq AS bigint START WITH 1;

-- Leases, one row per key (pricing_sync:<provider>).
CREATE TABLE pricing_sync_lock (
    key         text PRIMARY KEY,
    owner       text NOT NULL,
    holder      text NOT NULL,
    fence       bigint NOT NULL CHECK (fence > 0),
    acquired_at timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    CONSTRAINT pricing_sync_lock_expires_after_acquired CHECK (expires_at > acquired_at)
);

CREATE TABLE pricing_sync_schedules (
    name                 text PRIMARY KEY,
    providers            text NOT NULL CHECK (providers <> ''),
    interval_seconds     bigint NOT NULL CHECK (interval_seconds > 0),
    enabled              boolean NOT NULL DEFAULT true,
    next_run_at          timestamptz NOT NULL,
    last_slot_at         timestamptz,
    last_job_id          uuid,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    version              bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
