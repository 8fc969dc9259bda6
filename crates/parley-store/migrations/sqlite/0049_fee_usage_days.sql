-- WhatsApp fees: each account's charges summed per UTC day and key (category, market, pricing
-- type, number), kept once a day is over. A month's usage at millions of ledger entries summed
-- the month's charges on every request (seconds); closed days are now read from here and only
-- the current day is summed live. Filled on first request for a day (ledger entries are
-- immutable and written at the time they happen, so a closed day never changes).
CREATE TABLE fee_usage_days (
    account_id BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    -- Days since 1970-01-01 (UTC).
    day        BIGINT NOT NULL,
    key_kind   TEXT NOT NULL,
    -- '' for charges without that key.
    key        TEXT NOT NULL,
    charges    BIGINT NOT NULL,
    amount     BIGINT NOT NULL,
    PRIMARY KEY (account_id, key_kind, day, key)
);

-- The days summed per account and key kind (a day without charges has no row above).
CREATE TABLE fee_usage_summed (
    account_id BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    key_kind   TEXT NOT NULL,
    day        BIGINT NOT NULL,
    PRIMARY KEY (account_id, key_kind, day)
);
