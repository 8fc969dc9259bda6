-- Internal notes on conversations (never sent to the customer) and whom each mentions; a
-- notification can now be for one user (a mention) rather than for the owners and managers.
-- Kept in lockstep with ../postgres/0014_conversation_notes.sql.
CREATE TABLE conversation_notes (
    id              INTEGER PRIMARY KEY,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author_id       BIGINT,
    body            TEXT NOT NULL,
    mentions        TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL
);
CREATE INDEX conversation_notes_thread ON conversation_notes (conversation_id, id);
ALTER TABLE notifications ADD COLUMN user_id BIGINT;
