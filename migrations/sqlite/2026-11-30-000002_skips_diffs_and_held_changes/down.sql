ALTER TABLE pricing_sync_log DROP COLUMN changes_held;
ALTER TABLE model_pricing_history DROP COLUMN approved_by;
DROP TABLE held_price_changes;
DROP TABLE pricing_sync_planned_changes;
DROP TABLE pricing_sync_skipped;
