-- Back to components without windows and the first meters: windowed and
-- new-meter rows are dropped.
CREATE TABLE model_prices_new (
    model_id          TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    meter             TEXT NOT NULL CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search')),
    min_prompt_tokens INTEGER NOT NULL CHECK (min_prompt_tokens >= 0),

    usd_per_unit      TEXT NOT NULL CHECK (usd_per_unit <> '' AND usd_per_unit NOT GLOB '*[^0-9.]*' AND usd_per_unit NOT GLOB '*.*.*'),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'),
    PRIMARY KEY (model_id, meter, min_prompt_tokens)
) WITHOUT ROWID;
INSERT INTO model_prices_new (model_id, meter, min_prompt_tokens, usd_per_unit, updated_at)
    SELECT model_id, meter, min_prompt_tokens, usd_per_unit, updated_at FROM model_prices WHERE utc_window = '' AND meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search');
DROP TABLE model_prices;
ALTER TABLE model_prices_new RENAME TO model_prices;

CREATE TABLE model_pricing_history_new (
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
INSERT INTO model_pricing_history_new (id, model_id, meter, min_prompt_tokens, change, old_usd_per_unit, new_usd_per_unit, sync_id, changed_at)
    SELECT id, model_id, meter, min_prompt_tokens, change, old_usd_per_unit, new_usd_per_unit, sync_id, changed_at FROM model_pricing_history WHERE utc_window = '' AND meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search');
DROP TABLE model_pricing_history;
ALTER TABLE model_pricing_history_new RENAME TO model_pricing_history;
CREATE INDEX model_pricing_history_model_idx ON model_pricing_history (model_id, id);
CREATE INDEX model_pricing_history_changed_at_idx ON model_pricing_history (changed_at, id);
