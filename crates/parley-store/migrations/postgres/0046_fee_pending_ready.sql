-- WhatsApp fees: a pending send is marked ready when its status becomes final (in the
-- transaction that applies the status), so the fees worker reads only what it can settle
-- instead of joining every pending send with its message on each pass.
ALTER TABLE fee_pending ADD COLUMN ready BIGINT NOT NULL DEFAULT 0;
UPDATE fee_pending SET ready = 1
    WHERE message_id IN (SELECT id FROM messages WHERE status IN ('delivered', 'read', 'played', 'failed'));
CREATE INDEX fee_pending_ready ON fee_pending (account_id, message_id) WHERE ready = 1;
