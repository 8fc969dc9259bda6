-- WhatsApp channels and inbound: channels, contact identities, conversations, messages, the
-- status log, media downloads. Kept in lockstep with ../postgres/0002_whatsapp_inbound.sql.

CREATE TABLE channels (
    id                   INTEGER PRIMARY KEY,
    workspace_id         BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    provider             TEXT NOT NULL,
    name                 TEXT NOT NULL,
    phone_number_id      TEXT NOT NULL,
    waba_id              TEXT NOT NULL,
    display_phone_number TEXT NOT NULL,
    graph_base_url       TEXT NOT NULL,
    -- Access token, app secret and verify token, encrypted (see parley-server/src/secrets.rs).
    secrets              TEXT NOT NULL,
    webhook_key          TEXT NOT NULL,
    visibility           TEXT NOT NULL CHECK (visibility IN ('shared', 'private')),
    throughput           BIGINT NOT NULL DEFAULT 80,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    deleted_at           BIGINT,
    CONSTRAINT channels_webhook_key_unique UNIQUE (webhook_key)
);
-- One live channel per provider number; a deleted channel frees the number.
CREATE UNIQUE INDEX channels_phone_number_id_unique ON channels (provider, phone_number_id) WHERE deleted_at IS NULL;
CREATE INDEX channels_workspace ON channels (workspace_id);

-- How a contact is known to WhatsApp: wa_id (digits) and BSUID.
CREATE TABLE contact_identities (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    contact_id   BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT contact_identities_wa_id_unique UNIQUE (workspace_id, kind, value)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

-- Set when WhatsApp reports the number was re-registered; cleared when an agent acknowledges.
ALTER TABLE contacts ADD COLUMN identity_changed_at BIGINT;

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    workspace_id    BIGINT NOT NULL,
    channel_id      BIGINT NOT NULL REFERENCES channels (id),
    contact_id      BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('open', 'pending', 'snoozed', 'closed')),
    assignee_id     BIGINT,
    last_message_at BIGINT NOT NULL,
    -- The customer's last message time (provider time): the 24 h service window starts here.
    last_inbound_at BIGINT,
    -- Last inbound message that came from a click-to-WhatsApp ad (72 h free entry point).
    last_referral_at BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT conversations_thread_unique UNIQUE (channel_id, contact_id)
);
CREATE INDEX conversations_recent ON conversations (workspace_id, last_message_at, id);
CREATE INDEX conversations_contact ON conversations (contact_id);

CREATE TABLE messages (
    id                  INTEGER PRIMARY KEY,
    workspace_id        BIGINT NOT NULL,
    conversation_id     BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel_id          BIGINT NOT NULL,
    direction           TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    provider_message_id TEXT,
    type                TEXT NOT NULL,
    text                TEXT,
    content             TEXT NOT NULL,
    context             TEXT,
    referral            TEXT,
    -- The provider's JSON for this message, for audit.
    raw                 TEXT,
    -- Reactions, edits and revokes: the provider id of the message they are about.
    target_provider_id  TEXT,
    status              TEXT NOT NULL,
    -- The status's place in the lattice (parley_core::message::DeliveryStatus::rank): updates
    -- only move it up, atomically, even when two webhooks race.
    status_rank         BIGINT NOT NULL DEFAULT 0,
    status_at           BIGINT,
    error_code          BIGINT,
    error_title         TEXT,
    error_details       TEXT,
    pricing             TEXT,
    -- Provider time (inbound) or creation time (outbound): the thread's order.
    sent_at             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    edited_at           BIGINT,
    revoked_at          BIGINT,
    author_id           BIGINT,
    CONSTRAINT messages_provider_message_id_unique UNIQUE (channel_id, provider_message_id)
);
CREATE INDEX messages_thread ON messages (conversation_id, sent_at, id);
CREATE INDEX messages_target ON messages (channel_id, target_provider_id);

-- Edits and revokes that arrived before the message they change: applied when it arrives
-- (looked at for 7 days, Meta's longest retry; an edit of a message older than our history
-- waits in vain and is then ignored).
CREATE TABLE pending_changes (
    channel_id         BIGINT NOT NULL,
    target_provider_id TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (channel_id, target_provider_id)
);

-- Every status report received, once: the dedup key, and statuses that arrive before we know
-- the message (applied when it is recorded).
CREATE TABLE message_statuses (
    id                  INTEGER PRIMARY KEY,
    channel_id          BIGINT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_at           BIGINT NOT NULL,
    errors              TEXT,
    pricing             TEXT,
    raw                 TEXT NOT NULL,
    received_at         BIGINT NOT NULL,
    CONSTRAINT message_statuses_unique UNIQUE (channel_id, provider_message_id, status)
);

-- Marketing opt-outs (`user_preferences`) per channel and WhatsApp identity; latest wins.
CREATE TABLE user_preferences (
    id             INTEGER PRIMARY KEY,
    workspace_id   BIGINT NOT NULL,
    channel_id     BIGINT NOT NULL,
    identity_kind  TEXT NOT NULL,
    identity_value TEXT NOT NULL,
    category       TEXT NOT NULL,
    value          TEXT NOT NULL,
    at             BIGINT NOT NULL,
    CONSTRAINT user_preferences_unique UNIQUE (channel_id, identity_kind, identity_value, category)
);

-- Inbound media to download into the data dir.
CREATE TABLE media (
    id                INTEGER PRIMARY KEY,
    workspace_id      BIGINT NOT NULL,
    channel_id        BIGINT NOT NULL,
    message_id        BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    provider_media_id TEXT NOT NULL,
    mime_type         TEXT,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'available', 'failed')),
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    lease_until       BIGINT,
    last_error        TEXT,
    sha256            TEXT,
    size              BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT media_message_unique UNIQUE (message_id)
);
CREATE INDEX media_due ON media (state, next_attempt_at);

ALTER TABLE events ADD COLUMN channel_id BIGINT;
