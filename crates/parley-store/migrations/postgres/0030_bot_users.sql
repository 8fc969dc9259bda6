-- Bots are users of a kind: assignable like agents, with their own API token, never logging in
-- and never picked by automatic assignment.
ALTER TABLE users ADD COLUMN bot BIGINT NOT NULL DEFAULT 0;
