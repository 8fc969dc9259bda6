-- A bot's Dialogflow agent (parley_core::dialogflow): which agent it asks, and the service
-- account's key file, sealed by the server (never stored in clear).
CREATE TABLE bot_dialogflow (
    user_id          BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    workspace_id     BIGINT NOT NULL,
    edition          TEXT NOT NULL,
    project          TEXT NOT NULL,
    location         TEXT NOT NULL,
    agent            TEXT,
    language         TEXT NOT NULL,
    -- JSON array of intent display names.
    handover_intents TEXT NOT NULL,
    endpoint         TEXT,
    client_email     TEXT NOT NULL,
    sealed_key       TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);
