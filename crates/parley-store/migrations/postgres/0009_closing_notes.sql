-- Closing notes: the workspace's mode ('off', 'optional', 'category' required, 'both' required)
-- and its list of categories; the last note on each conversation (every one is also an event).
-- Kept in lockstep with ../sqlite/0009_closing_notes.sql.
ALTER TABLE workspaces ADD COLUMN closing_notes TEXT NOT NULL DEFAULT 'off';
ALTER TABLE workspaces ADD COLUMN closing_categories TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN closing_category TEXT;
ALTER TABLE conversations ADD COLUMN closing_summary TEXT;
