-- WhatsApp fees under the per-conversation model (CBP, before 2025-07-01): a conversation is
-- charged once, by the first of its messages delivered; the others are charged at zero.
CREATE TABLE fee_conversations (
    account_id      BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    message_id      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, conversation_id)
);
