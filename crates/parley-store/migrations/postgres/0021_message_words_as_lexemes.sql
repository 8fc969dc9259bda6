-- A message's search vector made from Parley's words as they are (array_to_tsvector), not by
-- PostgreSQL's text parser (to_tsvector): `search` already holds the folded words one space
-- apart (parley_core::search::search_words), so parsing them again only cost time, a fifth of
-- an inbound message's insert (10 µs a row against 3). Searches build their query from the same
-- words (`'term':*`, no parser either), so both sides see identical lexemes. No positions are
-- kept: searches match word prefixes, never phrases.
-- Rebuilds the column and its index (one pass over the table).
-- Kept in lockstep with ../sqlite/0021_message_words_as_lexemes.sql (nothing to do there: FTS5
-- reads `search` itself).
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search_vector;
ALTER TABLE messages ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (array_to_tsvector(array_remove(string_to_array(search, ' '), ''))) STORED;
CREATE INDEX messages_search ON messages USING gin (search_vector) WITH (gin_pending_list_limit = 256);
