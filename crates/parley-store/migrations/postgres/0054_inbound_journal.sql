-- Webhooks acknowledged before they are applied (issue 21, "ack fast"): the raw body and its
-- signature header as received on a webhook path (its key), kept until the transaction that
-- applies them deletes them (so a webhook is applied once, even by several servers).
CREATE TABLE inbound_journal (
    id BIGSERIAL PRIMARY KEY,
    webhook_key TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT,
    received_at BIGINT NOT NULL
);
