-- PostgreSQL only (../sqlite/0023_no_statistics_for_message_payloads.sql keeps the numbering):
-- the planner keeps no statistics on the message columns that no query filters or joins on.
--
-- Why: a webhook refreshes the statistics of the tables it grows each time messages doubled
-- (see `inbound_grew` in the store), and ANALYZE spent half its time on these wide columns
-- (raw JSON, content, text): a 100,000-message table took 300 ms to analyse, 150 without them.
ALTER TABLE messages
    ALTER COLUMN raw SET STATISTICS 0,
    ALTER COLUMN content SET STATISTICS 0,
    ALTER COLUMN context SET STATISTICS 0,
    ALTER COLUMN referral SET STATISTICS 0,
    ALTER COLUMN text SET STATISTICS 0,
    ALTER COLUMN search SET STATISTICS 0,
    ALTER COLUMN pricing SET STATISTICS 0,
    ALTER COLUMN pricing_estimate SET STATISTICS 0,
    ALTER COLUMN error_title SET STATISTICS 0,
    ALTER COLUMN error_details SET STATISTICS 0;
