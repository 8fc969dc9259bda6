-- Which customer messages a Dialogflow bot answered, or is answering (a lease, so that two
-- servers never ask the agent about one message and a crashed server's claim runs out).
CREATE TABLE bot_answers (
    message_id  BIGINT PRIMARY KEY,
    server_id   TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    answered_at BIGINT
);
