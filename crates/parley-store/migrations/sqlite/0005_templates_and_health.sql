-- Templates submitted through Parley and their versions, what the provider reports about them,
-- each number's health, and notifications for owners and managers.
-- Kept in lockstep with ../postgres/0005_templates_and_health.sql.

-- The row is the template as the provider has it now: status, quality and category follow its
-- webhooks; `components` are those of the version sends are checked against (the approved one).
ALTER TABLE templates ADD COLUMN quality TEXT;
ALTER TABLE templates ADD COLUMN rejected_reason TEXT;
-- The provider's word on the last status change: a pause's title, a rejection's explanation.
ALTER TABLE templates ADD COLUMN status_detail TEXT;
ALTER TABLE templates ADD COLUMN parameter_format TEXT NOT NULL DEFAULT 'positional';
-- The newest version (submitted or observed) and the one the provider approved last.
ALTER TABLE templates ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE templates ADD COLUMN approved_version BIGINT;
-- A category change the provider announced, and when it takes effect (Unix seconds).
ALTER TABLE templates ADD COLUMN next_category TEXT;
ALTER TABLE templates ADD COLUMN next_category_at BIGINT;

-- Every submitted version of a template, never edited once submitted (only its review outcome
-- is filled in). Versions the provider shows that Parley did not submit are recorded too.
CREATE TABLE template_versions (
    id              INTEGER PRIMARY KEY,
    template_id     BIGINT NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    version         BIGINT NOT NULL,
    category        TEXT NOT NULL,
    components      TEXT NOT NULL,
    status          TEXT NOT NULL,
    rejected_reason TEXT,
    -- `parley` (submitted here) or `provider` (seen in a sync).
    source          TEXT NOT NULL,
    submitted_by    BIGINT,
    submitted_at    BIGINT NOT NULL,
    decided_at      BIGINT,
    CONSTRAINT template_versions_unique UNIQUE (template_id, version)
);

-- A number's health as last reported (webhooks) or read (the number's fields).
CREATE TABLE channel_health (
    channel_id       BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    quality_rating   TEXT,
    status           TEXT,
    name_status      TEXT,
    verified_name    TEXT,
    throughput_level TEXT,
    checked_at       BIGINT,
    updated_at       BIGINT NOT NULL
);

-- What owners and managers are told about (health changes, template reviews).
CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    channel_id   BIGINT,
    message      TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX notifications_recent ON notifications (workspace_id, id);

CREATE TABLE notification_reads (
    notification_id BIGINT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL,
    read_at         BIGINT NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);
