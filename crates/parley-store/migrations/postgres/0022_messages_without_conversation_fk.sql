-- PostgreSQL only (../sqlite/0022_messages_without_conversation_fk.sql keeps the numbering):
-- messages no longer carry a foreign key to conversations; deleting a conversation still deletes
-- its messages, through a trigger.
--
-- Why: PostgreSQL checks a foreign key with a per-row trigger that looks the conversation up and
-- locks it (FOR KEY SHARE); in a webhook's transaction, which has just updated those very
-- conversations, that cost 55 µs of every inbound message's 80 (auto_explain on parley bench
-- webhooks: 100 ms of a 150 ms insert of 2,000 messages). SQLite checks it for almost nothing
-- and keeps it.
-- What still guarantees a message's conversation exists: messages are written only by the store,
-- in the transaction that found or opened their conversation; the webhook path checks that every
-- conversation it moved forward still exists (a deletion committed in between makes the
-- transaction fail and the webhook go again, into a new conversation); the send path holds the
-- conversation it writes to; merges move messages before they delete a conversation.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_conversation_id_fkey;

CREATE FUNCTION delete_conversation_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages WHERE conversation_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_delete_messages AFTER DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION delete_conversation_messages();
