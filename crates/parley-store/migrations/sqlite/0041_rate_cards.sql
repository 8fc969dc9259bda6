-- WhatsApp fees (issue 19): rate cards as data. A card is instance-wide (Meta's prices are the
-- same for every workspace; a workspace's markup applies on top), never changed once imported,
-- and in force from its effective date until the next card of its currency and model.
CREATE TABLE rate_cards (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    currency       TEXT NOT NULL,
    -- 'PMP' (per message) or 'CBP' (per conversation).
    model          TEXT NOT NULL,
    effective_from BIGINT NOT NULL,
    -- 1: shipped for trying Parley out, never Meta's prices.
    sample         BIGINT NOT NULL,
    source         TEXT NOT NULL,
    imported_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX rate_cards_effective_from ON rate_cards (currency, model, effective_from);

CREATE TABLE rate_card_lines (
    card_id   BIGINT NOT NULL REFERENCES rate_cards (id) ON DELETE CASCADE,
    market    TEXT NOT NULL,
    category  TEXT NOT NULL,
    -- The tier's first and last message of the month (inclusive); NULL: open.
    tier_from BIGINT,
    tier_to   BIGINT,
    -- Millionths of the card's currency.
    rate      BIGINT NOT NULL
);
CREATE INDEX rate_card_lines_card ON rate_card_lines (card_id);
