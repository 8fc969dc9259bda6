-- Moving a number between providers (issue 20): the connections a channel had before, each
-- with its provider, ids, sealed credentials and webhook key, and when it was the channel's.
-- The channel row holds the current connection; a past one's webhook key still routes late
-- webhooks (statuses, messages) from the old provider into the same channel for a while.
CREATE TABLE channel_connections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel_id      BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL,
    phone_number_id TEXT NOT NULL,
    waba_id         TEXT NOT NULL,
    graph_base_url  TEXT NOT NULL,
    secrets         TEXT NOT NULL,
    webhook_key     TEXT NOT NULL UNIQUE,
    active_from     BIGINT NOT NULL,
    -- The cut-over: from then on the channel sends through the next connection.
    active_until    BIGINT NOT NULL
);
CREATE INDEX channel_connections_channel ON channel_connections (channel_id, active_until);
