-- Contacts at scale: CSV imports and their rejected rows, duplicate suggestions, merges and the
-- redirects they leave, and what re-cleaning could not make valid.
-- Kept in lockstep with ../postgres/0004_contacts_at_scale.sql.

-- A phone or email `parley contacts normalize` could not make valid, kept as it was found (the
-- phone or email column is then empty, so it never matches or receives anything).
ALTER TABLE contacts ADD COLUMN invalid_phone TEXT;
ALTER TABLE contacts ADD COLUMN invalid_email TEXT;

-- One CSV import. Each batch of rows commits with the import's progress (rows_done), so an
-- interrupted import resumes after its last committed batch and never writes a row twice.
CREATE TABLE imports (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by   BIGINT,
    filename     TEXT NOT NULL,
    -- The file being read: the path the CLI was given, or the upload under the data dir.
    path         TEXT NOT NULL,
    -- parley_core::contacts_csv::ImportOptions as JSON.
    options      TEXT NOT NULL,
    dry_run      BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    bytes_total  BIGINT NOT NULL,
    bytes_done   BIGINT NOT NULL DEFAULT 0,
    rows_done    BIGINT NOT NULL DEFAULT 0,
    created      BIGINT NOT NULL DEFAULT 0,
    updated      BIGINT NOT NULL DEFAULT 0,
    unchanged    BIGINT NOT NULL DEFAULT 0,
    skipped      BIGINT NOT NULL DEFAULT 0,
    rejected     BIGINT NOT NULL DEFAULT 0,
    -- Columns of the file no field takes, as a JSON array.
    ignored      TEXT NOT NULL DEFAULT '[]',
    error        TEXT,
    -- A worker holds the import until then; a crashed worker's import is picked up again after.
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX imports_workspace ON imports (workspace_id, id);
CREATE INDEX imports_state ON imports (state);

-- Why a row was not imported: one row per problem (a line may have several).
CREATE TABLE import_rejects (
    import_id   BIGINT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line        BIGINT NOT NULL,
    column_name TEXT,
    value       TEXT,
    code        TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX import_rejects_import ON import_rejects (import_id, line);

-- Two contacts that look like the same person. contact_a < contact_b; one row per pair (the
-- first reason found). Dismissed pairs stay, so they are not suggested again.
CREATE TABLE merge_suggestions (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    contact_a    BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    contact_b    BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    reason       TEXT NOT NULL,
    -- The value both share (the phone, email or WhatsApp id).
    matched      TEXT NOT NULL,
    dismissed_at BIGINT,
    dismissed_by BIGINT,
    created_at   BIGINT NOT NULL,
    CONSTRAINT merge_suggestions_pair_unique UNIQUE (workspace_id, contact_a, contact_b)
);
CREATE INDEX merge_suggestions_open ON merge_suggestions (workspace_id, dismissed_at, id);
CREATE INDEX merge_suggestions_b ON merge_suggestions (contact_b);

-- A merge: who, when, the secondary as it was, and how many rows of each kind moved.
CREATE TABLE contact_merges (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    primary_id   BIGINT NOT NULL,
    secondary_id BIGINT NOT NULL,
    merged_by    BIGINT,
    secondary    TEXT NOT NULL,
    moved        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX contact_merges_primary ON contact_merges (workspace_id, primary_id, id);

-- A merged contact's id keeps resolving to the contact it was merged into.
CREATE TABLE contact_redirects (
    workspace_id BIGINT NOT NULL,
    from_id      BIGINT NOT NULL,
    to_id        BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, from_id)
);
CREATE INDEX contact_redirects_to ON contact_redirects (to_id);
