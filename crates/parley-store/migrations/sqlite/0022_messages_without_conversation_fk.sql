-- Nothing to change on SQLite: it checks messages' foreign key to conversations for almost
-- nothing and keeps it. PostgreSQL's migration of the same number explains why it drops it.
SELECT 1;
