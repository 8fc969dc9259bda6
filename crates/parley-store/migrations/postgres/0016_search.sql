-- Full-text search over messages and notes. Each row keeps `search`: its text's folded words one
-- space apart (parley_core::search::search_words, computed by Parley at insert). Messages are
-- found through a GIN index on their words (the 'simple' configuration: no stemming, no stop
-- words, so PostgreSQL sees the same words as SQLite's FTS5); notes, far fewer, by word-prefix LIKE.
-- Kept in lockstep with ../sqlite/0016_search.sql.
ALTER TABLE messages ADD COLUMN search TEXT;
-- Rows written before this migration: lowercase text, close enough to the folded words.
UPDATE messages SET search = lower(text) WHERE text IS NOT NULL;
CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', search));

ALTER TABLE conversation_notes ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE conversation_notes SET search = lower(body);
ALTER TABLE contact_notes ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE contact_notes SET search = lower(body);
CREATE INDEX conversation_notes_workspace ON conversation_notes (workspace_id, id);
CREATE INDEX contact_notes_workspace ON contact_notes (workspace_id, id);

-- Contacts: their search text becomes words (name, email, phone digits with and without the
-- country code; parley_core::search::contact_search_text), found through a GIN index. Rows
-- written before: their old text ("name\nemail\ndigits") made into words as well as SQL can.
UPDATE contacts SET search = trim(translate(search, chr(10) || '@.-', '    '));
CREATE INDEX contacts_search ON contacts USING gin (to_tsvector('simple', search));
