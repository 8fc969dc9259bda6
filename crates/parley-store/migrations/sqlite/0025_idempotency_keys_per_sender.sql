-- Idempotency keys belong to whoever sent with them (issue 15, point 3): a user's keys are
-- stored as `user:<id>:<key>`, those of sends no user made as `channel:<id>:<key>` (see
-- parley_core::idempotency). The first message of a keyed send keeps the request's fingerprint,
-- so a different request under a used key is refused instead of replayed.
ALTER TABLE messages ADD COLUMN idempotency_fingerprint TEXT;

-- Keys stored before are scoped the same way (their fingerprint stays unknown: a replay of
-- one is trusted as before).
UPDATE messages SET idempotency_key = CASE
        WHEN author_id IS NOT NULL THEN 'user:' || CAST(author_id AS TEXT)
        ELSE 'channel:' || CAST(channel_id AS TEXT)
    END || ':' || idempotency_key
    WHERE idempotency_key IS NOT NULL;
