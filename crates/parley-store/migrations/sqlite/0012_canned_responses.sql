-- Canned responses: replies saved under a /shortcut, one shortcut per workspace.
-- Kept in lockstep with ../postgres/0012_canned_responses.sql.
CREATE TABLE canned_responses (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    shortcut     TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_by   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT canned_responses_shortcut_unique UNIQUE (workspace_id, shortcut)
);
