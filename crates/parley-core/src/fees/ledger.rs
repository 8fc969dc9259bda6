//! The ledger's rules: what each kind of entry does to an account's balance and holds, who may
//! write it, and whether an account can take a new hold. The store applies them inside the
//! transaction that writes the entry (`parley-store`, `sql/ledger.rs`).

use serde::{Deserialize, Serialize};

use super::Micros;

/// What an entry is. Entries are never changed nor removed: a mistake is corrected by another
/// entry (an adjustment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Money in: a card payment or a bank transfer recorded by an owner.
    TopUp,
    /// A send's estimated price set aside while it is on its way.
    Hold,
    /// A hold let go (the send failed, was not delivered, or was free).
    Release,
    /// A delivered message's price (its hold, if any, let go with it).
    Charge,
    /// Money given back (a charge reversed).
    Refund,
    /// An owner's correction, with a reason: either sign.
    Adjustment,
}

impl EntryKind {
    pub const ALL: [EntryKind; 6] = [
        EntryKind::TopUp,
        EntryKind::Hold,
        EntryKind::Release,
        EntryKind::Charge,
        EntryKind::Refund,
        EntryKind::Adjustment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::TopUp => "top_up",
            EntryKind::Hold => "hold",
            EntryKind::Release => "release",
            EntryKind::Charge => "charge",
            EntryKind::Refund => "refund",
            EntryKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(text: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Kinds an owner writes by hand (the others come from sends and payments).
    pub fn by_hand(self) -> bool {
        matches!(self, EntryKind::TopUp | EntryKind::Refund | EntryKind::Adjustment)
    }
}

/// What an entry does: the change to the balance and to the amount held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effect {
    pub balance: Micros,
    pub held: Micros,
}

/// The effect of an entry of `kind` for `amount` (positive, except an adjustment's, which
/// carries its sign); `released`: the hold a charge lets go. `Err` says why it cannot be.
pub fn effect(kind: EntryKind, amount: Micros, released: Micros) -> Result<Effect, &'static str> {
    let positive = amount > Micros::ZERO;
    let (balance, held) = match kind {
        EntryKind::TopUp | EntryKind::Refund if positive => (amount, Micros::ZERO),
        // A hold of nothing marks a send to settle at delivery (estimated free, or unpriced).
        EntryKind::Hold if amount >= Micros::ZERO => (Micros::ZERO, amount),
        EntryKind::Release if positive => (Micros::ZERO, Micros(-amount.0)),
        EntryKind::Charge if amount >= Micros::ZERO => (Micros(-amount.0), Micros(-released.0)),
        EntryKind::Adjustment if amount != Micros::ZERO => (amount, Micros::ZERO),
        EntryKind::Adjustment => return Err("an adjustment is not zero"),
        _ => return Err("the amount is more than zero"),
    };
    Ok(Effect { balance, held })
}

/// An account's money as kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub balance: Micros,
    pub held: Micros,
    /// Postpaid: sends go on until the balance reaches minus this limit. Prepaid: zero.
    pub credit_limit: Micros,
    pub postpaid: bool,
}

impl Balance {
    /// What a new send may still take: balance − holds (+ the credit limit when postpaid).
    pub fn available(&self) -> Micros {
        let credit = if self.postpaid { self.credit_limit.0 } else { 0 };
        Micros(self.balance.0 - self.held.0 + credit)
    }

    /// Whether a hold of `price` fits (a free send always does).
    pub fn covers(&self, price: Micros) -> bool {
        price <= Micros::ZERO || self.available() >= price
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_move_the_balance_and_the_holds_as_their_kind_says() {
        let e = |kind, amount, released| effect(kind, Micros(amount), Micros(released));
        assert_eq!(e(EntryKind::TopUp, 500, 0), Ok(Effect { balance: Micros(500), held: Micros(0) }));
        assert_eq!(e(EntryKind::Hold, 60, 0), Ok(Effect { balance: Micros(0), held: Micros(60) }));
        assert_eq!(e(EntryKind::Release, 60, 0), Ok(Effect { balance: Micros(0), held: Micros(-60) }));
        assert_eq!(e(EntryKind::Charge, 55, 60), Ok(Effect { balance: Micros(-55), held: Micros(-60) }));
        assert_eq!(e(EntryKind::Charge, 0, 60), Ok(Effect { balance: Micros(0), held: Micros(-60) }), "free");
        assert_eq!(e(EntryKind::Adjustment, -30, 0), Ok(Effect { balance: Micros(-30), held: Micros(0) }));
        assert!(e(EntryKind::Adjustment, 0, 0).is_err());
        assert!(e(EntryKind::TopUp, -5, 0).is_err());
        assert_eq!(e(EntryKind::Hold, 0, 0), Ok(Effect { balance: Micros(0), held: Micros(0) }), "a marker");
        assert!(e(EntryKind::Hold, -1, 0).is_err());
        assert!(EntryKind::Adjustment.by_hand() && !EntryKind::Charge.by_hand());
        assert_eq!(EntryKind::parse("top_up"), Some(EntryKind::TopUp));
    }

    #[test]
    fn prepaid_sends_stop_at_zero_postpaid_at_the_limit() {
        let prepaid = Balance { balance: Micros(100), held: Micros(40), credit_limit: Micros(1_000), postpaid: false };
        assert_eq!(prepaid.available(), Micros(60), "no credit when prepaid");
        assert!(prepaid.covers(Micros(60)) && !prepaid.covers(Micros(61)));
        assert!(prepaid.covers(Micros(0)), "a free send always goes");
        let postpaid = Balance { postpaid: true, ..prepaid };
        assert_eq!(postpaid.available(), Micros(1_060));
        assert!(!postpaid.covers(Micros(1_061)));
    }
}
