-- A conversation's activity (assignments, team and status changes, tags: issue 16, point 5) is
-- read from the event log by subject. Only conversation events are indexed, so the messages'
-- events, the bulk of the log, cost webhooks nothing more than the predicate's check.
CREATE INDEX events_conversation_activity ON events (workspace_id, subject_id, id)
    WHERE kind LIKE 'conversation.%';
