-- Time-of-day prices and the meters providers added (audio output, cached
-- audio input, output images).
--
-- utc_window is the component's UTC time-of-day window in its stored code
-- ('10:00-01:00', or '00:00-24:00@sat,sun' on some weekdays); '' is a price
-- that applies at any time. It is part of the key: a model can have an
-- any-time price and windowed prices for the same meter and band.

ALTER TABLE model_prices DROP CONSTRAINT model_prices_meter_check;
ALTER TABLE model_prices ADD CONSTRAINT model_prices_meter_check
    CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','cache_read_audio_tokens','output_audio_tokens','request','image','web_search','output_image'));
ALTER TABLE model_prices ADD COLUMN utc_window text NOT NULL DEFAULT ''
    CHECK (utc_window = '' OR utc_window ~ '^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9](@[a-z]{3}(,[a-z]{3}){0,6})?$');
ALTER TABLE model_prices DROP CONSTRAINT model_prices_pkey;
ALTER TABLE model_prices ADD PRIMARY KEY (model_id, meter, min_prompt_tokens, utc_window);

ALTER TABLE model_pricing_history DROP CONSTRAINT model_pricing_history_meter_check;
ALTER TABLE model_pricing_history ADD CONSTRAINT model_pricing_history_meter_check
    CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','cache_read_audio_tokens','output_audio_tokens','request','image','web_search','output_image'));
ALTER TABLE model_pricing_history ADD COLUMN utc_window text NOT NULL DEFAULT ''
    CHECK (utc_window = '' OR utc_window ~ '^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9](@[a-z]{3}(,[a-z]{3}){0,6})?$');

-- A model's prices as of an instant are rebuilt from its history up to that
-- instant: one index range scan.
CREATE INDEX model_pricing_history_model_time_idx
    ON model_pricing_history (model_id, changed_at, id);
