-- WhatsApp fees (issue 19): top-ups by card (Stripe), auto-recharge and low-balance alerts.

-- Alerts and auto-recharge watch an account's available balance; each fires once per crossing
-- below its threshold (`*_armed` goes to 0 when it fires, back to 1 once the available balance
-- is at or above the threshold again). Amounts in millionths of the account's currency.
ALTER TABLE fee_accounts ADD COLUMN alert_threshold BIGINT;
ALTER TABLE fee_accounts ADD COLUMN alert_emails TEXT NOT NULL DEFAULT '[]';
ALTER TABLE fee_accounts ADD COLUMN alert_armed BIGINT NOT NULL DEFAULT 1;
ALTER TABLE fee_accounts ADD COLUMN recharge_threshold BIGINT;
ALTER TABLE fee_accounts ADD COLUMN recharge_amount BIGINT;
ALTER TABLE fee_accounts ADD COLUMN recharge_monthly_cap BIGINT;
ALTER TABLE fee_accounts ADD COLUMN recharge_armed BIGINT NOT NULL DEFAULT 1;
-- Stripe's customer and the card saved at a checkout, for off-session recharges.
ALTER TABLE fee_accounts ADD COLUMN stripe_customer TEXT;
ALTER TABLE fee_accounts ADD COLUMN payment_method TEXT;

-- A payment asked of Stripe: `checkout` (an owner at Stripe's page) or `auto` (a recharge).
-- States: requested (an auto-recharge not yet asked), pending (at Stripe), succeeded (credited
-- by the ledger entry `entry_id`), failed (`error`).
CREATE TABLE top_ups (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    source         TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    state          TEXT NOT NULL,
    session_id     TEXT,
    payment_intent TEXT,
    checkout_url   TEXT,
    attempts       BIGINT NOT NULL DEFAULT 0,
    next_at        BIGINT,
    error          TEXT,
    by_user        BIGINT,
    entry_id       BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX top_ups_account ON top_ups (account_id, id);
CREATE INDEX top_ups_due ON top_ups (state, next_at);

-- Stripe events taken, so a replayed event is taken once.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Alerts raised on an account (balance_low, recharge_failed, recharge_cap_reached), each
-- mailed once by the alerts worker.
CREATE TABLE fee_alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    available     BIGINT NOT NULL,
    threshold     BIGINT,
    detail        TEXT,
    created_at    BIGINT NOT NULL,
    mailed_at     BIGINT,
    mail_attempts BIGINT NOT NULL DEFAULT 0,
    mail_error    TEXT
);
CREATE INDEX fee_alerts_unmailed ON fee_alerts (mailed_at, id);
