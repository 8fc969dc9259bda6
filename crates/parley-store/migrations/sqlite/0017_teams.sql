-- Teams: named groups of users (Sales, Support…). A conversation may be assigned to a team (its
-- queue) as well as to a user; deleting a team leaves its conversations without one.
-- Kept in lockstep with ../postgres/0017_teams.sql.
CREATE TABLE teams (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT teams_name_unique UNIQUE (workspace_id, name)
);
CREATE TABLE team_members (
    team_id BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);
ALTER TABLE conversations ADD COLUMN team_id BIGINT REFERENCES teams (id) ON DELETE SET NULL;
CREATE INDEX conversations_team ON conversations (team_id, last_message_at, id) WHERE team_id IS NOT NULL;
