-- A move planned for a later cut-over (issue 20): the new connection, sealed, waiting for its
-- time. Its webhook key already takes the new provider's posts (a number whose migration at
-- the provider ends early loses nothing); sends switch at the cut-over. One plan per channel;
-- the row goes when the move is made or cancelled, and stays with last_error when it failed.
CREATE TABLE planned_moves (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id       BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel_id         BIGINT NOT NULL UNIQUE REFERENCES channels (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    phone_number_id    TEXT NOT NULL,
    waba_id            TEXT NOT NULL,
    graph_base_url     TEXT NOT NULL,
    secrets            TEXT NOT NULL,
    webhook_key        TEXT NOT NULL UNIQUE,
    cutover_at         BIGINT NOT NULL,
    resubmit_templates BIGINT NOT NULL,
    planned_by         BIGINT,
    last_error         TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX planned_moves_due ON planned_moves (cutover_at);

-- What each move did and could not do (its report), kept on the connection it ended.
ALTER TABLE channel_connections ADD COLUMN move_report TEXT;
