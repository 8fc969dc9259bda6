-- WhatsApp fees: the nightly comparison of an account's ledger with what the provider says it
-- charged (`pricing_analytics`), one per account and UTC day (run again: replaced).
CREATE TABLE fee_reconciliations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    -- Days since 1970-01-01 (UTC).
    day         BIGINT NOT NULL,
    -- matched, differences or failed.
    outcome     TEXT NOT NULL,
    -- JSON: the lines that differ (or are missing on one side).
    differences TEXT NOT NULL,
    error       TEXT,
    ran_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX fee_reconciliations_day ON fee_reconciliations (account_id, day);
