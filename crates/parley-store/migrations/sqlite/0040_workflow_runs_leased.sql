-- The runs leased now, by conversation: a run is not leased while another run of its
-- conversation is (`claim_runs`), a question answered per candidate. Without this index it read
-- every running run — a million pending waits made each claim slow and held the writer.
CREATE INDEX workflow_runs_leased ON workflow_runs (conversation_id) WHERE lease_until IS NOT NULL;
