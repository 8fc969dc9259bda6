-- The follower asks, for each trigger, whether the workflow runs on the conversation already
-- and how often it started there lately (its loop guard across runs).
CREATE INDEX workflow_runs_of_conversation ON workflow_runs (workflow_id, conversation_id, started_at);
