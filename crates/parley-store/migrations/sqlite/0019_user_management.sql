-- Managing users: a deactivated user keeps their history but cannot log in or use a token; an
-- invitation is a one-time link (only the SHA-256 of its secret is kept) with which a new user
-- chooses their password. Kept in lockstep with ../postgres/0019_user_management.sql.
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
CREATE TABLE user_invites (
    token_hash   TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by   BIGINT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX user_invites_user ON user_invites (user_id);
