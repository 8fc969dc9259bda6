-- Workflows (parley_core::workflow): a draft being edited, published versions that runs keep
-- to, durable runs with their history, and the trigger follower's cursor on the event log.
CREATE TABLE workflows (
    id               INTEGER PRIMARY KEY,
    workspace_id     BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    -- JSON definition as last saved.
    draft            TEXT NOT NULL,
    active           BIGINT NOT NULL,
    once_per_contact BIGINT NOT NULL,
    -- The published version runs start on; 0 before the first publication.
    version          BIGINT NOT NULL,
    created_by       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX workflows_workspace ON workflows (workspace_id, id);

CREATE TABLE workflow_versions (
    workflow_id  BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    definition   TEXT NOT NULL,
    published_by BIGINT,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id               INTEGER PRIMARY KEY,
    workspace_id     BIGINT NOT NULL,
    workflow_id      BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version          BIGINT NOT NULL,
    conversation_id  BIGINT,
    contact_id       BIGINT,
    -- The event that started it (NULL when started by hand): one run per event and workflow.
    trigger_event_id BIGINT,
    -- running (a step is due at wake_at), done, failed, cancelled
    status           TEXT NOT NULL,
    step             TEXT,
    -- Steps taken so far: the next step's number in the history and in idempotency keys.
    seq              BIGINT NOT NULL,
    -- JSON object: times each jump step was taken.
    jumps            TEXT NOT NULL,
    wake_at          BIGINT,
    lease_holder     TEXT,
    lease_until      BIGINT,
    error            TEXT,
    started_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX workflow_runs_started ON workflow_runs (workflow_id, trigger_event_id);
CREATE INDEX workflow_runs_due ON workflow_runs (wake_at) WHERE status = 'running';
CREATE INDEX workflow_runs_of_workflow ON workflow_runs (workflow_id, id);
CREATE INDEX workflow_runs_of_contact ON workflow_runs (workflow_id, contact_id);

CREATE TABLE workflow_run_steps (
    run_id      BIGINT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    step        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- done, waiting, skipped, failed
    outcome     TEXT NOT NULL,
    -- JSON: what the step did (message ids, the branch taken, the error).
    detail      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- The trigger follower: the last event it turned into runs (one row; on PostgreSQL one server
-- holds the lease).
CREATE TABLE workflow_follower (
    id           BIGINT PRIMARY KEY,
    event_id     BIGINT NOT NULL,
    lease_holder TEXT,
    lease_until  BIGINT
);
