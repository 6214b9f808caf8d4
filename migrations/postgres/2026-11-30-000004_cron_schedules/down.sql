ALTER TABLE pricing_sync_schedules DROP COLUMN cron_expression;
