-- conversations_quiet (status, last_message_at) is read by nothing: the two scans it was made
-- for, quiet conversations (workflows) and auto-close, both name the workspace and read
-- conversations_status (workspace_id, status, last_message_at, id), on both engines, even with
-- it present (EXPLAIN on 300,000-500,000 conversations). Every message wrote an entry to it.
DROP INDEX conversations_quiet;
