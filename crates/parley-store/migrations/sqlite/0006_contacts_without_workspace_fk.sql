-- Nothing to do on SQLite: see ../postgres/0006_contacts_without_workspace_fk.sql (PostgreSQL
-- drops the contacts → workspaces foreign key for import speed; SQLite checks it for almost
-- nothing and keeps it). The file keeps the two engines' migration numbers in lockstep.
SELECT 1;
