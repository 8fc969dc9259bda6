-- Mention notifications by mail: a user's setting, and the mails owed, written with the note
-- in its transaction (nothing lost if the server stops before the relay answers). A mail
-- worker claims each row with a lease (one server mails it), and records the outcome.
ALTER TABLE users ADD COLUMN mail_mentions BIGINT NOT NULL DEFAULT 0;

CREATE TABLE mention_mails (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    note_id       BIGINT NOT NULL REFERENCES conversation_notes (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    leased_until  BIGINT,
    -- Set once mailed, or once no longer owed (the user lost sight of the conversation, was
    -- deactivated or turned the setting off): 'mailed', 'skipped' or 'failed' in outcome.
    done_at       BIGINT,
    outcome       TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX mention_mails_owed ON mention_mails (done_at, id);
