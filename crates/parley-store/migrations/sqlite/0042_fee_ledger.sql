-- WhatsApp fees (issue 19): an account per WhatsApp Business Account of a workspace, opened by
-- an owner (fees are accounted for only where one is open). Its balance and holds are derived
-- from its entries and kept on the row in the same transaction as each entry.
CREATE TABLE fee_accounts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    waba_id      TEXT NOT NULL,
    currency     TEXT NOT NULL,
    postpaid     BIGINT NOT NULL,
    -- Millionths of the currency, like every amount below.
    credit_limit BIGINT NOT NULL,
    balance      BIGINT NOT NULL,
    held         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX fee_accounts_waba_id ON fee_accounts (workspace_id, waba_id);

-- Never changed nor removed. `reference` makes an entry once: `hold:<message>`,
-- `charge:<message>`, `stripe:<payment>`, an owner's transfer reference.
CREATE TABLE ledger_entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    -- The change to the balance and to the holds, and both after it.
    amount        BIGINT NOT NULL,
    held_change   BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    held_after    BIGINT NOT NULL,
    reference     TEXT,
    message_id    BIGINT,
    -- A hold's or charge's market and category (volume tiers count a month's charges by them),
    -- and how it was priced: JSON (pricing type, model, card, rate, markup).
    market        TEXT,
    category      TEXT,
    pricing_type  TEXT,
    pricing       TEXT,
    by_user       BIGINT,
    reason        TEXT,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX ledger_entries_reference ON ledger_entries (account_id, reference);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_tier ON ledger_entries (account_id, kind, category, market, created_at);
CREATE INDEX ledger_entries_message ON ledger_entries (message_id);

-- A reseller's markup on Meta's prices, in hundredths of a percent (1500 = 15 %).
ALTER TABLE workspaces ADD COLUMN fee_markup_bp BIGINT NOT NULL DEFAULT 0;

-- Sends queued on an account and not settled yet: the fees worker turns each into a charge at
-- delivery or a release at failure, deleting its row in the same transaction (exactly once).
CREATE TABLE fee_pending (
    message_id BIGINT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES fee_accounts (id) ON DELETE CASCADE,
    held       BIGINT NOT NULL,
    -- The estimate (category, pricing type) and the recipient (its market).
    category   TEXT NOT NULL,
    pricing_type TEXT NOT NULL,
    recipient  TEXT NOT NULL
);
