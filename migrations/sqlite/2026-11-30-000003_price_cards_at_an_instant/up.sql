-- What a model's price card was at any instant, and a marker of catalogue
-- changes that replicas can poll: the same change as migrations/postgres
-- (see there for the reasons).

CREATE TABLE model_status_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id     TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    change       TEXT NOT NULL CHECK (change IN ('listed', 'kind_changed', 'removed')),
    pricing_kind TEXT NOT NULL
        CHECK (pricing_kind IN ('metered', 'free', 'dynamic', 'subscription', 'unknown')),
    sync_id      TEXT CHECK (length(sync_id) = 36),
    changed_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z')
);
CREATE INDEX model_status_history_model_time_idx
    ON model_status_history (model_id, changed_at, id);

INSERT INTO model_status_history (model_id, change, pricing_kind, sync_id, changed_at)
    SELECT id, 'listed', pricing_kind, NULL, first_seen_at FROM models;
INSERT INTO model_status_history (model_id, change, pricing_kind, sync_id, changed_at)
    SELECT id, 'removed', pricing_kind, last_sync_id, removed_at FROM models
    WHERE status = 'removed';

CREATE INDEX model_pricing_history_model_key_time_idx
    ON model_pricing_history (model_id, meter, min_prompt_tokens, utc_window, changed_at, id);
CREATE INDEX model_pricing_history_added_idx
    ON model_pricing_history (model_id, changed_at, meter, min_prompt_tokens, utc_window)
    WHERE change = 'added';

CREATE TABLE pricing_catalogue_version (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL CHECK (version >= 0),
    changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (changed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z')
);
INSERT INTO pricing_catalogue_version (id, version) VALUES (1, 0);
