-- Tags on conversations (contacts have their own): lowercase, one row per tag.
-- Kept in lockstep with ../postgres/0015_conversation_tags.sql.
CREATE TABLE conversation_tags (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    tag             TEXT NOT NULL,
    workspace_id    BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags (workspace_id, tag);
