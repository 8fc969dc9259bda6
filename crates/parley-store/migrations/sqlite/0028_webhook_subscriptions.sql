-- Outgoing webhooks: a workspace's subscriptions, each reading the event log with its own
-- durable cursor (moved only after a 2xx or a decision to skip), and the log of its deliveries.
CREATE TABLE webhook_subscriptions (
    id                 INTEGER PRIMARY KEY,
    workspace_id       BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Whose sight the subscription has: it sends what this user may see.
    created_by         BIGINT NOT NULL,
    url                TEXT NOT NULL,
    -- JSON array of the public kinds wanted.
    kinds              TEXT NOT NULL,
    sealed_secret      TEXT NOT NULL,
    active             BIGINT NOT NULL,
    paused_reason      TEXT,
    -- The last event handled (delivered, not wanted, or given up).
    cursor_event_id    BIGINT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT,
    failing_since      BIGINT,
    event_failing_since BIGINT,
    lease_holder       TEXT,
    lease_until        BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX webhook_subscriptions_workspace ON webhook_subscriptions (workspace_id, id);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- NULL for a test ping.
    event_id        BIGINT,
    kind            TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    -- delivered, failed, given_up
    outcome         TEXT NOT NULL,
    status_code     BIGINT,
    error           TEXT,
    latency_ms      BIGINT NOT NULL,
    response_excerpt TEXT,
    replay          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (subscription_id, id);

-- Replays asked for: events from_event..=to_event sent again, apart from the cursor.
CREATE TABLE webhook_replays (
    id              INTEGER PRIMARY KEY,
    subscription_id BIGINT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    next_event_id   BIGINT NOT NULL,
    to_event_id     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_replays_subscription ON webhook_replays (subscription_id, id);
