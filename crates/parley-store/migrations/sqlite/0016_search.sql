-- Full-text search over messages and notes. Each row keeps `search`: its text's folded words one
-- space apart (parley_core::search::search_words, computed by Parley at insert). Messages are
-- found through an FTS5 index kept by triggers; notes, far fewer, by word-prefix LIKE.
-- Kept in lockstep with ../postgres/0016_search.sql.
ALTER TABLE messages ADD COLUMN search TEXT;
-- Rows written before this migration: lowercase text, close enough to the folded words.
UPDATE messages SET search = lower(text) WHERE text IS NOT NULL;

-- External content: the index only; the words stay in messages.search. The tokenizer splits on
-- the spaces Parley put there (and folds nothing more: the words are folded already).
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    search,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.search IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, search) VALUES (new.id, new.search);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.search IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search) VALUES ('delete', old.id, old.search);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF search ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search) SELECT 'delete', old.id, old.search WHERE old.search IS NOT NULL;
    INSERT INTO messages_fts (rowid, search) SELECT new.id, new.search WHERE new.search IS NOT NULL;
END;

ALTER TABLE conversation_notes ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE conversation_notes SET search = lower(body);
ALTER TABLE contact_notes ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE contact_notes SET search = lower(body);
CREATE INDEX conversation_notes_workspace ON conversation_notes (workspace_id, id);
CREATE INDEX contact_notes_workspace ON contact_notes (workspace_id, id);

-- Contacts: their search text becomes words (name, email, phone digits with and without the
-- country code; parley_core::search::contact_search_text), found through an FTS5 index. Rows
-- written before: their old text ("name\nemail\ndigits") made into words as well as SQL can.
UPDATE contacts SET search = trim(replace(replace(replace(replace(search, char(10), ' '), '@', ' '), '.', ' '), '-', ' '));
CREATE VIRTUAL TABLE contacts_fts USING fts5 (
    search,
    content = 'contacts',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO contacts_fts (contacts_fts) VALUES ('rebuild');
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts (rowid, search) VALUES (new.id, new.search);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search) VALUES ('delete', old.id, old.search);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF search ON contacts BEGIN
    INSERT INTO contacts_fts (contacts_fts, rowid, search) VALUES ('delete', old.id, old.search);
    INSERT INTO contacts_fts (rowid, search) VALUES (new.id, new.search);
END;
