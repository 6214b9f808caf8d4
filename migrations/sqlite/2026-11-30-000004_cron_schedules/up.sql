-- A schedule can run at the slots of a cron expression (five fields, UTC)
-- instead of every interval. NULL: an interval schedule, as before.
--
-- interval_seconds stays NOT NULL: for a cron schedule it holds the gap
-- between the expression's next two slots when the row was written. The
-- scheduler does not use it for a cron schedule; a binary older than this
-- migration (a rollback, a rolling deploy) reads the row as an interval
-- schedule of about that period instead of failing on a NULL.
ALTER TABLE pricing_sync_schedules ADD COLUMN cron_expression TEXT
    CHECK (cron_expression IS NULL OR length(cron_expression) BETWEEN 1 AND 200);
