-- Outbound: the outbox the dispatcher works from, templates synced from the provider, opt-ins,
-- the business-initiated ledger the messaging limit counts, and the settings the send rules
-- read. Kept in lockstep with ../postgres/0003_outbound.sql.

-- 1 (the default): templates need an opt-in (or an inbound message) before they are sent.
ALTER TABLE workspaces ADD COLUMN require_opt_in BIGINT NOT NULL DEFAULT 1;

ALTER TABLE contacts ADD COLUMN blocked_at BIGINT;

-- Unique business-initiated recipients per rolling 24 h the number's portfolio may reach (NULL:
-- unlimited). 250 until Meta says otherwise (new portfolios start there).
ALTER TABLE channels ADD COLUMN messaging_limit BIGINT DEFAULT 250;

-- When the current 72 h free entry point opened (a timely reply to an ad referral).
ALTER TABLE conversations ADD COLUMN entry_point_opened_at BIGINT;

-- Who sent it (agents), the idempotency key of the request, and the estimated pricing.
ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
ALTER TABLE messages ADD COLUMN pricing_estimate TEXT;
CREATE UNIQUE INDEX messages_idempotency_unique ON messages (workspace_id, idempotency_key);

-- One job per outbound message. States: pending → claimed (leased by a dispatcher) → sending
-- (the request is leaving) → sent | failed | unknown. A claimed job whose lease runs out was never
-- sent and goes back to pending; a sending one may have been sent and becomes unknown.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    workspace_id    BIGINT NOT NULL,
    message_id      BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    channel_id      BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL,
    contact_id      BIGINT NOT NULL,
    -- The WhatsApp id or number the provider is asked to deliver to.
    recipient       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'sending', 'sent', 'failed', 'unknown')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT outbox_message_unique UNIQUE (message_id)
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
-- Each channel's dispatcher lane claims its own due jobs.
CREATE INDEX outbox_channel_due ON outbox (channel_id, state, next_attempt_at, id);
CREATE INDEX outbox_conversation ON outbox (conversation_id, id);

-- Business-initiated sends (templates outside the service window): the messaging limit counts
-- unique contacts here over a rolling 24 h, per WhatsApp Business Account.
CREATE TABLE business_initiated (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    waba_id      TEXT NOT NULL,
    contact_id   BIGINT NOT NULL,
    message_id   BIGINT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX business_initiated_recent ON business_initiated (workspace_id, waba_id, at);

CREATE TABLE opt_ins (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    contact_id   BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    -- NULL: every channel of the workspace.
    channel_id   BIGINT,
    source       TEXT NOT NULL,
    evidence     TEXT,
    opted_in_at  BIGINT NOT NULL,
    revoked_at   BIGINT,
    recorded_by  BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX opt_ins_contact ON opt_ins (contact_id);

-- Templates as synced from the provider, per WhatsApp Business Account.
CREATE TABLE templates (
    id                   INTEGER PRIMARY KEY,
    workspace_id         BIGINT NOT NULL,
    waba_id              TEXT NOT NULL,
    name                 TEXT NOT NULL,
    language             TEXT NOT NULL,
    category             TEXT NOT NULL,
    status               TEXT NOT NULL,
    components           TEXT NOT NULL,
    provider_template_id TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    CONSTRAINT templates_name_unique UNIQUE (workspace_id, waba_id, name, language)
);

-- Files uploaded for sending: stored content-addressed under the data dir.
CREATE TABLE uploads (
    id                INTEGER PRIMARY KEY,
    workspace_id      BIGINT NOT NULL,
    channel_id        BIGINT NOT NULL,
    provider_media_id TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    mime_type         TEXT NOT NULL,
    size              BIGINT NOT NULL,
    filename          TEXT,
    created_at        BIGINT NOT NULL,
    CONSTRAINT uploads_provider_unique UNIQUE (channel_id, provider_media_id)
);
