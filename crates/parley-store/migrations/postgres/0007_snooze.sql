-- A snoozed conversation wakes up (opens again) at this time, or earlier when the customer writes.
-- Kept in lockstep with ../sqlite/0007_snooze.sql.
ALTER TABLE conversations ADD COLUMN snoozed_until BIGINT;
CREATE INDEX conversations_snoozed ON conversations (status, snoozed_until);
