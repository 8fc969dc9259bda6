-- WhatsApp fees: each account's billable charges per month, category and market, kept with the
-- charges (volume tiers price the nth message of the month). Counting the month's charges again
-- on every settling pass grew with the month; a row is read instead. A missing row is counted
-- once from the ledger and kept (so accounts charged before this table are right too).
CREATE TABLE fee_tier_counts (
    account_id BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    -- The month's first instant (UTC, microseconds).
    month      BIGINT NOT NULL,
    category   TEXT NOT NULL,
    market     TEXT NOT NULL,
    charges    BIGINT NOT NULL,
    PRIMARY KEY (account_id, month, category, market)
);
