-- Every skip and every change is visible: the same change as
-- migrations/postgres (types as SQLite stores them: uuids, decimals and
-- times as text).

CREATE TABLE pricing_sync_skipped (
    job_id            TEXT NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    seq               INTEGER NOT NULL CHECK (seq >= 0),
    provider_model_id TEXT NOT NULL,
    reason            TEXT NOT NULL,
    detail            TEXT NOT NULL,
    PRIMARY KEY (job_id, provider, seq)
) WITHOUT ROWID;

CREATE TABLE pricing_sync_planned_changes (
    job_id            TEXT NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    seq               INTEGER NOT NULL CHECK (seq >= 0),
    provider_model_id TEXT NOT NULL,
    model_change      TEXT NOT NULL CHECK (model_change IN ('added', 'updated', 'reactivated', 'removed')),
    meter             TEXT,
    min_prompt_tokens INTEGER CHECK (min_prompt_tokens >= 0),
    utc_window        TEXT,
    component_change  TEXT CHECK (component_change IN ('added', 'changed', 'removed', 'held')),
    old_usd_per_unit  TEXT CHECK (old_usd_per_unit <> '' AND old_usd_per_unit NOT GLOB '*[^0-9.]*' AND old_usd_per_unit NOT GLOB '*.*.*'),
    new_usd_per_unit  TEXT CHECK (new_usd_per_unit <> '' AND new_usd_per_unit NOT GLOB '*[^0-9.]*' AND new_usd_per_unit NOT GLOB '*.*.*'),
    PRIMARY KEY (job_id, provider, seq),
    CONSTRAINT pricing_sync_planned_changes_component CHECK (
        (meter IS NULL) = (component_change IS NULL)
        AND (meter IS NULL) = (min_prompt_tokens IS NULL)
        AND (meter IS NULL) = (utc_window IS NULL))
) WITHOUT ROWID;

CREATE TABLE held_price_changes (
    id                TEXT PRIMARY KEY CHECK (length(id) = 36),
    model_id          TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             TEXT NOT NULL,
    min_prompt_tokens INTEGER NOT NULL CHECK (min_prompt_tokens >= 0),
    utc_window        TEXT NOT NULL,
    old_usd_per_unit  TEXT NOT NULL CHECK (old_usd_per_unit <> '' AND old_usd_per_unit NOT GLOB '*[^0-9.]*' AND old_usd_per_unit NOT GLOB '*.*.*'),
    new_usd_per_unit  TEXT NOT NULL CHECK (new_usd_per_unit <> '' AND new_usd_per_unit NOT GLOB '*[^0-9.]*' AND new_usd_per_unit NOT GLOB '*.*.*'),
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded')),
    sync_id           TEXT CHECK (length(sync_id) = 36),
    held_at           TEXT NOT NULL CHECK (held_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    decided_by        TEXT,
    decided_at        TEXT CHECK (decided_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    CONSTRAINT held_price_changes_decision CHECK (
        (status IN ('approved', 'rejected')) = (decided_by IS NOT NULL)
        AND (status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX held_price_changes_pending_key
    ON held_price_changes (model_id, meter, min_prompt_tokens, utc_window)
    WHERE status = 'pending';
CREATE INDEX held_price_changes_status_idx ON held_price_changes (status, held_at, id);
CREATE INDEX held_price_changes_model_idx ON held_price_changes (model_id);

ALTER TABLE model_pricing_history ADD COLUMN approved_by TEXT;

ALTER TABLE pricing_sync_log ADD COLUMN changes_held INTEGER NOT NULL DEFAULT 0 CHECK (changes_held >= 0);
