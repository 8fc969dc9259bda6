//! Watching an account's available balance (balance − holds, + credit when postpaid): the
//! low-balance alert and the auto-recharge each fire **once per crossing** below their
//! threshold. The store applies [`watch`] inside the transaction of every ledger entry, with
//! the account's row locked, so concurrent sends crossing together fire it once.

use super::{Currency, Micros};

/// A watch after an entry: whether it fired now, and whether it can fire again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watched {
    pub fired: bool,
    pub armed: bool,
}

/// An armed watch fires when the available balance is below the threshold, and stays quiet
/// (disarmed) until the balance is at or above the threshold again.
pub fn watch(threshold: Micros, armed: bool, available: Micros) -> Watched {
    if available < threshold { Watched { fired: armed, armed: false } } else { Watched { fired: false, armed: true } }
}

/// An account's auto-recharge: below `threshold`, charge the saved card `amount`, at most
/// `monthly_cap` in a calendar month (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoRecharge {
    pub threshold: Micros,
    pub amount: Micros,
    pub monthly_cap: Micros,
}

impl AutoRecharge {
    /// Why these terms cannot be, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.amount <= Micros::ZERO {
            Some("the recharge amount is more than zero")
        } else if self.threshold < Micros::ZERO {
            Some("the threshold is never negative")
        } else if self.monthly_cap < self.amount {
            Some("the monthly cap is at least one recharge")
        } else {
            None
        }
    }

    /// Whether one more recharge fits under the cap, given what this month's recharges asked.
    pub fn fits(&self, this_month: Micros) -> bool {
        this_month.0.saturating_add(self.amount.0) <= self.monthly_cap.0
    }
}

/// Currencies Stripe counts in whole units (no cents), per its documentation.
const ZERO_DECIMAL: &[&str] =
    &["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// Millionths per smallest unit Stripe counts in for `currency` (cents: 10,000).
fn micros_per_unit(currency: &Currency) -> i64 {
    if ZERO_DECIMAL.contains(&currency.as_str()) { 1_000_000 } else { 10_000 }
}

/// An amount in the smallest unit Stripe counts `currency` in (`Err` when it has a fraction of
/// that unit, like $1.005).
pub fn to_minor_units(currency: &Currency, amount: Micros) -> Result<i64, &'static str> {
    let unit = micros_per_unit(currency);
    if amount.0 % unit != 0 {
        return Err("the amount has more decimals than the currency has");
    }
    Ok(amount.0 / unit)
}

/// An amount Stripe gave in its smallest unit, in millionths.
pub fn from_minor_units(currency: &Currency, units: i64) -> Micros {
    Micros(units.saturating_mul(micros_per_unit(currency)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_fires_once_per_crossing() {
        let t = Micros(100);
        let mut armed = true;
        let mut fired = 0;
        // Down through the threshold in three steps, up again, down again.
        for available in [150, 90, 50, 10, 120, 80, 99] {
            let w = watch(t, armed, Micros(available));
            fired += i32::from(w.fired);
            armed = w.armed;
        }
        assert_eq!(fired, 2, "once at 90, once at 80; not at 50, 10 or 99");
        assert_eq!(watch(t, true, Micros(100)), Watched { fired: false, armed: true }, "at the threshold: above");
        assert_eq!(watch(t, false, Micros(99)), Watched { fired: false, armed: false });
    }

    #[test]
    fn auto_recharge_terms_and_its_cap() {
        let r = AutoRecharge { threshold: Micros(10), amount: Micros(50), monthly_cap: Micros(120) };
        assert_eq!(r.problem(), None);
        assert!(r.fits(Micros(70)) && !r.fits(Micros(71)), "two fit, the third does not");
        assert!(AutoRecharge { amount: Micros(0), ..r }.problem().is_some());
        assert!(AutoRecharge { monthly_cap: Micros(49), ..r }.problem().is_some());
        assert!(AutoRecharge { threshold: Micros(-1), ..r }.problem().is_some());
    }

    #[test]
    fn stripe_counts_cents_or_whole_units() {
        let usd = Currency::parse("USD").unwrap();
        let vnd = Currency::parse("VND").unwrap();
        assert_eq!(to_minor_units(&usd, Micros(12_340_000)), Ok(1234));
        assert!(to_minor_units(&usd, Micros(12_345_000)).is_err(), "half a cent");
        assert_eq!(to_minor_units(&vnd, Micros(50_000_000_000)), Ok(50_000));
        assert!(to_minor_units(&vnd, Micros(500_000)).is_err());
        assert_eq!(from_minor_units(&usd, 1234), Micros(12_340_000));
        assert_eq!(from_minor_units(&vnd, 50_000), Micros(50_000_000_000));
    }
}
