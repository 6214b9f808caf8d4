DROP INDEX model_pricing_history_model_time_idx;
DELETE FROM model_pricing_history
    WHERE utc_window <> '' OR meter NOT IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search');
ALTER TABLE model_pricing_history DROP COLUMN utc_window;
ALTER TABLE model_pricing_history DROP CONSTRAINT model_pricing_history_meter_check;
ALTER TABLE model_pricing_history ADD CONSTRAINT model_pricing_history_meter_check
    CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search'));

DELETE FROM model_prices WHERE utc_window <> '' OR meter NOT IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search');
ALTER TABLE model_prices DROP CONSTRAINT model_prices_pkey;
ALTER TABLE model_prices DROP COLUMN utc_window;
ALTER TABLE model_prices ADD PRIMARY KEY (model_id, meter, min_prompt_tokens);
ALTER TABLE model_prices DROP CONSTRAINT model_prices_meter_check;
ALTER TABLE model_prices ADD CONSTRAINT model_prices_meter_check
    CHECK (meter IN ('input_tokens','output_tokens','cache_read_tokens','cache_write_5m_tokens','cache_write_1h_tokens','reasoning_tokens','input_audio_tokens','input_image_tokens','request','image','web_search'));
