-- Every skip and every change is visible: the models a sync skipped, the
-- diff of a dry run, and the price changes held for an admin's decision.

-- The models a sync skipped, per job and provider, in the order met (a list
-- can skip the same id twice, as a duplicate).
CREATE TABLE pricing_sync_skipped (
    job_id            uuid NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE,
    provider          text NOT NULL,
    seq               integer NOT NULL CHECK (seq >= 0),
    provider_model_id text NOT NULL,
    reason            text NOT NULL,
    detail            text NOT NULL,
    PRIMARY KEY (job_id, provider, seq)
);

-- What a dry run would change, per job and provider: a row per component
-- change, or one row without a component for a model whose kind or
-- descriptive fields alone changed. component_change 'held' is a change the
-- run would hold for approval.
CREATE TABLE pricing_sync_planned_changes (
    job_id            uuid NOT NULL REFERENCES pricing_sync_jobs (id) ON DELETE CASCADE,
    provider          text NOT NULL,
    seq               integer NOT NULL CHECK (seq >= 0),
    provider_model_id text NOT NULL,
    model_change      text NOT NULL CHECK (model_change IN ('added', 'updated', 'reactivated', 'removed')),
    meter             text,
    min_prompt_tokens bigint CHECK (min_prompt_tokens >= 0),
    utc_window        text,
    component_change  text CHECK (component_change IN ('added', 'changed', 'removed', 'held')),
    old_usd_per_unit  numeric CHECK (old_usd_per_unit >= 0),
    new_usd_per_unit  numeric CHECK (new_usd_per_unit >= 0),
    PRIMARY KEY (job_id, provider, seq),
    CONSTRAINT pricing_sync_planned_changes_component CHECK (
        (meter IS NULL) = (component_change IS NULL)
        AND (meter IS NULL) = (min_prompt_tokens IS NULL)
        AND (meter IS NULL) = (utc_window IS NULL))
);

-- Price changes held for approval: the model keeps old_usd_per_unit until
-- an admin approves. One pending change per component at most. sync_id is
-- the sync that last listed the change; no foreign key, so a decision
-- outlives the pruning of old jobs.
CREATE TABLE held_price_changes (
    id                uuid PRIMARY KEY,
    model_id          uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             text NOT NULL,
    min_prompt_tokens bigint NOT NULL CHECK (min_prompt_tokens >= 0),
    utc_window        text NOT NULL,
    old_usd_per_unit  numeric NOT NULL CHECK (old_usd_per_unit >= 0),
    new_usd_per_unit  numeric NOT NULL CHECK (new_usd_per_unit >= 0),
    status            text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded')),
    sync_id           uuid,
    held_at           timestamptz NOT NULL,
    decided_by        text,
    decided_at        timestamptz,
    CONSTRAINT held_price_changes_decision CHECK (
        (status IN ('approved', 'rejected')) = (decided_by IS NOT NULL)
        AND (status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX held_price_changes_pending_key
    ON held_price_changes (model_id, meter, min_prompt_tokens, utc_window)
    WHERE status = 'pending';
CREATE INDEX held_price_changes_status_idx ON held_price_changes (status, held_at, id);
CREATE INDEX held_price_changes_model_idx ON held_price_changes (model_id);

-- Who approved a held change that history records.
ALTER TABLE model_pricing_history ADD COLUMN approved_by text;

-- How many changes a provider's sync held.
ALTER TABLE pricing_sync_log ADD COLUMN changes_held integer NOT NULL DEFAULT 0 CHECK (changes_held >= 0);
