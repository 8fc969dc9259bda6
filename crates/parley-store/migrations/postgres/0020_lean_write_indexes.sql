-- Index entries that every inbound message and every conversation update paid for, for rows no
-- query looks up through them (found with pg_stat_statements on parley bench webhooks: a
-- message insert wrote six index entries, a conversation update ten). Each index below now
-- holds only the rows its queries can match:
-- - messages_target: reactions, edits and revokes (the only rows with a target), looked up by
--   `target_provider_id IN (…)`, which implies NOT NULL;
-- - messages_idempotency_unique: sends made with an idempotency key (never an inbound
--   message), looked up by `idempotency_key IN (…)`; a key stays unique per workspace;
-- - conversations_snoozed: snoozed conversations, which the waker finds by
--   `status = 'snoozed' AND snoozed_until <= now`.
-- Kept in lockstep with the other engine's 0020_lean_write_indexes.sql.
DROP INDEX messages_target;
CREATE INDEX messages_target ON messages (channel_id, target_provider_id) WHERE target_provider_id IS NOT NULL;
DROP INDEX messages_idempotency_unique;
CREATE UNIQUE INDEX messages_idempotency_unique ON messages (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX conversations_snoozed;
CREATE INDEX conversations_snoozed ON conversations (snoozed_until) WHERE status = 'snoozed';
