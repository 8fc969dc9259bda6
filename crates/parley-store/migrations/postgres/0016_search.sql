-- Full-text search over messages and notes. Each row keeps `search`: its text's folded words one
-- space apart (parley_core::search::search_words, computed by Parley at insert). Messages are
-- found through a GIN index on their words as a stored tsvector (the 'simple' configuration: no
-- stemming, no stop words, so PostgreSQL sees the same words as SQLite's FTS5); stored, not an
-- index expression, because walking the newest rows (see SEARCH_MESSAGES_RECENT in sql/mod.rs)
-- checks each one, and computing the vector anew costs ten times more. Notes, far fewer, are
-- found by word-prefix LIKE.
-- Kept in lockstep with ../sqlite/0016_search.sql.
ALTER TABLE messages ADD COLUMN search TEXT;
-- Rows written before this migration: lowercase text, close enough to the folded words.
UPDATE messages SET search = lower(text) WHERE text IS NOT NULL;
ALTER TABLE messages ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', COALESCE(search, ''))) STORED;
-- New rows wait in the index's pending list, which every search reads whole: kept small (256 kB,
-- not 4 MB) it costs a search well under a millisecond instead of ten.
CREATE INDEX messages_search ON messages USING gin (search_vector) WITH (gin_pending_list_limit = 256);

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
ALTER TABLE contacts ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', search)) STORED;
CREATE INDEX contacts_search ON contacts USING gin (search_vector) WITH (gin_pending_list_limit = 256);
