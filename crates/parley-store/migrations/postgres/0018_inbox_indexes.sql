-- The inbox list under each filter, newest activity first, without reading conversations the
-- filter leaves out: one index per filter ordered like the list (found with parley bench inbox:
-- an agent with no open conversation made "mine, open" read the whole table).
-- Kept in lockstep with ../sqlite/0018_inbox_indexes.sql.
CREATE INDEX conversations_status ON conversations (workspace_id, status, last_message_at, id);
-- Assignees are users of one workspace: the id alone picks the rows. With a status too (an
-- agent's open ones), the second index; it also counts an agent's open conversations for
-- automatic assignment, as the one it replaces did.
CREATE INDEX conversations_assignee_recent ON conversations (assignee_id, last_message_at, id);
DROP INDEX conversations_assignee;
CREATE INDEX conversations_assignee ON conversations (assignee_id, status, last_message_at, id);
CREATE INDEX conversations_channel ON conversations (channel_id, last_message_at, id);
