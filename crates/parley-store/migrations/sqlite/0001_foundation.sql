-- Foundation: workspaces, users, API tokens, contacts with tags and notes, the event log.
-- Kept in lockstep with ../postgres/0001_foundation.sql: same tables, columns and constraint names.
-- Timestamps are microseconds since the Unix epoch (BIGINT) in both engines.

CREATE TABLE workspaces (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    default_region TEXT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'agent')),
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email)
);
CREATE INDEX users_workspace ON users (workspace_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash)
);
CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id);

CREATE TABLE contacts (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT,
    phone        TEXT,
    email        TEXT,
    -- JSON object of custom fields, and JSON array of tags (tags are also rows of contact_tags,
    -- which filtering uses; this copy saves a query per listed contact).
    fields       TEXT NOT NULL DEFAULT '{}',
    tags         TEXT NOT NULL DEFAULT '[]',
    -- Folded (lowercase, no diacritics) name, email and phone digits that `q` searches.
    search       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX contacts_workspace_id ON contacts (workspace_id, id);
-- Not unique: an import may add duplicates on purpose ("add all", merged later) and re-cleaning
-- old data may reveal some; the API refuses to create one, lookups take the oldest, and the
-- duplicate suggestions list them for merging.
CREATE INDEX contacts_phone ON contacts (workspace_id, phone);
CREATE INDEX contacts_email ON contacts (workspace_id, email);

CREATE TABLE contact_tags (
    contact_id   BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL,
    tag          TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (workspace_id, tag, contact_id);

CREATE TABLE contact_notes (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    contact_id   BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    author_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX contact_notes_contact ON contact_notes (contact_id, id);

-- The ordered event log (ARCHITECTURE.md "Reactions"). AUTOINCREMENT: ids never reused.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    subject_id   BIGINT,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX events_workspace ON events (workspace_id, id);
