-- Webhooks acknowledged before they are applied (issue 21, "ack fast") wait in a file of their
-- own beside this one (`<database>.inbound.db`, so that appending never waits behind the
-- transactions that apply them). A transaction that applies journaled webhooks notes their ids
-- here: a webhook whose id is noted is not applied again (say, after a crash between the commit
-- here and the removal of its row there). Ids below the journal's oldest row are pruned.
CREATE TABLE inbound_journal_applied (journal_id INTEGER PRIMARY KEY);
