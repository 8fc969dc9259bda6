-- Runs started by a scan rather than an event (inactivity, schedules, incoming webhooks) carry
-- a key naming what started them, so that a scan repeated after a crash starts nothing twice.
ALTER TABLE workflow_runs ADD COLUMN trigger_key TEXT;
CREATE UNIQUE INDEX workflow_runs_keyed ON workflow_runs (workflow_id, trigger_key);
CREATE INDEX conversations_quiet ON conversations (status, last_message_at);
-- A schedule's progress: the fire being worked through, and the last contact it started a run
-- for (-1 once all have one), so that a large segment is covered in batches across passes.
ALTER TABLE workflows ADD COLUMN schedule_fire BIGINT;
ALTER TABLE workflows ADD COLUMN schedule_cursor BIGINT NOT NULL DEFAULT 0;
