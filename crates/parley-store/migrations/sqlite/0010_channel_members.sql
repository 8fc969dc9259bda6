-- Members of private channels: agents see a private channel's conversations, messages and events
-- only when they are a member (owners and managers see every channel). Shared channels ignore it.
-- Kept in lockstep with ../postgres/0010_channel_members.sql.
CREATE TABLE channel_members (
    channel_id   BIGINT NOT NULL REFERENCES channels (id),
    user_id      BIGINT NOT NULL REFERENCES users (id),
    workspace_id BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX channel_members_user ON channel_members (user_id);
