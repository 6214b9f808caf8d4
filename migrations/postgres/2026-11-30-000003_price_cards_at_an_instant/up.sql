-- What a model's price card was at any instant, and a marker of catalogue
-- changes that replicas can poll.
--
-- model_status_history: one row each time a model is listed (first seen,
-- or listed again after a removal), changes pricing kind while listed, or
-- is removed. model_pricing_history has only component rows, so without
-- this a model's kind at an instant, and its removals before its last
-- relisting, could not be told. pricing_kind is the kind from then on (for
-- 'removed': the last kind).
CREATE TABLE model_status_history (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id     uuid NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    change       text NOT NULL CHECK (change IN ('listed', 'kind_changed', 'removed')),
    pricing_kind text NOT NULL
        CHECK (pricing_kind IN ('metered', 'free', 'dynamic', 'subscription', 'unknown')),
    sync_id      uuid,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_status_history_model_time_idx
    ON model_status_history (model_id, changed_at, id);

-- What the models table knows of the past: listed since first seen with its
-- current kind, and its last removal. Kind changes and removals followed by a
-- relisting before this migration are not known (docs/cost.md).
INSERT INTO model_status_history (model_id, change, pricing_kind, sync_id, changed_at)
    SELECT id, 'listed', pricing_kind, NULL, first_seen_at FROM models;
INSERT INTO model_status_history (model_id, change, pricing_kind, sync_id, changed_at)
    SELECT id, 'removed', pricing_kind, last_sync_id, removed_at FROM models
    WHERE status = 'removed';

-- A component's price at an instant is its latest history row at or before
-- it: one descent of this index per component key, however long the
-- history. The keys a model ever had come from its 'added' rows (every key
-- starts with one), found through the small partial index.
CREATE INDEX model_pricing_history_model_key_time_idx
    ON model_pricing_history (model_id, meter, min_prompt_tokens, utc_window, changed_at, id);
CREATE INDEX model_pricing_history_added_idx
    ON model_pricing_history (model_id, changed_at, meter, min_prompt_tokens, utc_window)
    WHERE change = 'added';

-- One row whose version grows with every committed write of the catalogue
-- (models, prices, history). Writers bump it as their transaction's last
-- statement, so versions follow commit order (a larger id committed earlier
-- cannot hide a change, as a polled max(id) could). Servers poll it to
-- reload their in-memory catalogue.
CREATE TABLE pricing_catalogue_version (
    id         integer PRIMARY KEY CHECK (id = 1),
    version    bigint NOT NULL CHECK (version >= 0),
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pricing_catalogue_version (id, version) VALUES (1, 0);

-- Statistics for the new table and indexes now, so that the first card
-- queries are planned with them.
ANALYZE models, model_pricing_history, model_status_history;
