-- Browser sessions of the web inbox: only the SHA-256 of the cookie's secret is kept (like API
-- tokens); the CSRF token is derived from the secret, so it needs no column. Each user's UI
-- language (NULL: the browser's). Kept in lockstep with ../postgres/0011_web_sessions.sql.
CREATE TABLE web_sessions (
    token_hash   TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
ALTER TABLE users ADD COLUMN locale TEXT;
-- Unread counts: inbound messages of a conversation with an id above the last one an agent read.
ALTER TABLE conversations ADD COLUMN read_upto BIGINT NOT NULL DEFAULT 0;
