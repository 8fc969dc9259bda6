-- Automatic assignment of new conversations: agents' availability and when each was last given
-- one (round-robin), the workspace's mode and cap. Kept in lockstep with ../postgres/0008_auto_assignment.sql.
ALTER TABLE users ADD COLUMN available BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN last_assigned_at BIGINT;
-- 'off' (default), 'round_robin' or 'least_open'.
ALTER TABLE workspaces ADD COLUMN auto_assign TEXT NOT NULL DEFAULT 'off';
-- Agents with this many conversations not closed get no more automatically; NULL: no cap.
ALTER TABLE workspaces ADD COLUMN auto_assign_max_open BIGINT;
CREATE INDEX conversations_assignee ON conversations (assignee_id, status);
