-- Auto-close: a workspace may close conversations whose last message is a human agent's and got
-- no reply from the contact for this many hours (NULL: off, the default).
-- Kept in lockstep with ../sqlite/0013_auto_close.sql.
ALTER TABLE workspaces ADD COLUMN auto_close_hours BIGINT;
