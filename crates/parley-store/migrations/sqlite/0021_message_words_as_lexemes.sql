-- Nothing to change on SQLite: its FTS5 index reads `messages.search` itself. PostgreSQL's
-- migration of the same number builds its search vector from those words without its parser.
SELECT 1;
