-- When a bot hands its conversations over to the team (parley_core::bots).
CREATE TABLE bot_settings (
    user_id          BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    workspace_id     BIGINT NOT NULL,
    -- JSON array of hand-over keywords.
    handover_keywords TEXT NOT NULL,
    silence_seconds  BIGINT,
    max_turns        BIGINT
);
