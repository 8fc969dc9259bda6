-- What a workflow run carries from step to step (parley_core::workflow::Memory, JSON): the
-- trigger's payload, accepted answers, values set, and the question it waits on; a run waiting
-- for the customer's answer is woken when the customer writes.
ALTER TABLE workflow_runs ADD COLUMN memory TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workflow_runs ADD COLUMN awaiting_reply BIGINT NOT NULL DEFAULT 0;
CREATE INDEX workflow_runs_awaiting ON workflow_runs (conversation_id) WHERE awaiting_reply = 1;
