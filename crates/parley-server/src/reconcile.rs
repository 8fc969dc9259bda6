//! WhatsApp fees (issue 19): the nightly reconciliation. For each fee account and each UTC day,
//! once the day is over (from 03:00 UTC the next day, so late statuses are in), Parley asks the
//! provider what it charged that day (`pricing_analytics`, through a number of the account's
//! WABA) and compares it with the ledger's charges of the day, per category and pricing type:
//! how many messages, and their cost before the workspace's markup. Lines that differ are kept
//! with the day's outcome (`matched`, `differences`, `failed`: tried again an hour later) and
//! owners and managers are told in the app. The ledger is never changed by it: an owner
//! decides (a refund, an adjustment).

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_core::fees::Micros;
use parley_store::{FeeAccount, Reconciliation, StoreError, Viewer};
use serde_json::{Value, json};

use crate::state::AppState;

const DAY_SECS: i64 = 86_400;
/// How long after a day's end its reconciliation waits (late statuses, the provider's own lag).
const AFTER_DAY_SECS: i64 = 3 * 3600;

/// The UTC day (days since 1970-01-01) whose reconciliation is due at `now`.
pub fn due_day(now: Timestamp) -> i64 {
    (now.as_secs() - AFTER_DAY_SECS).div_euclid(DAY_SECS) - 1
}

/// Compares one account's day; the comparison is kept (also when the provider failed).
pub async fn reconcile(state: &AppState, account: &FeeAccount, day: i64) -> Result<Reconciliation, StoreError> {
    let now = state.clock.now();
    let (outcome, differences, error) = match provider_totals(state, account, day).await {
        Err(why) => ("failed", json!([]), Some(why)),
        Ok(provider) => {
            let ledger = state.store.charge_totals(account.workspace_id, account.id, day).await?;
            let ours: BTreeMap<(String, String), (i64, Micros)> =
                ledger.into_iter().map(|t| ((t.category, t.pricing_type), (t.messages, t.base_cost))).collect();
            let differences = differences(&ours, &provider);
            let outcome = if differences.is_empty() { "matched" } else { "differences" };
            (outcome, Value::Array(differences), None)
        }
    };
    let kept = state.store.save_reconciliation(account, day, outcome, &differences, error.as_deref(), now).await?;
    if outcome != "matched" {
        tracing::warn!(account = account.id, day, outcome, "fees reconciliation: the ledger and the provider differ");
    }
    Ok(kept)
}

/// Lines present on either side whose count or cost differ.
fn differences(
    ours: &BTreeMap<(String, String), (i64, Micros)>,
    theirs: &BTreeMap<(String, String), (i64, Micros)>,
) -> Vec<Value> {
    let keys: std::collections::BTreeSet<_> = ours.keys().chain(theirs.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let a = ours.get(key).copied().unwrap_or((0, Micros::ZERO));
            let b = theirs.get(key).copied().unwrap_or((0, Micros::ZERO));
            (a != b).then(|| {
                json!({"category": key.0, "pricing_type": key.1,
                    "ledger": {"messages": a.0, "cost": a.1.to_decimal()},
                    "provider": {"messages": b.0, "cost": b.1.to_decimal()}})
            })
        })
        .collect()
}

/// What the provider says it charged on `day`, per category and pricing type.
async fn provider_totals(
    state: &AppState,
    account: &FeeAccount,
    day: i64,
) -> Result<BTreeMap<(String, String), (i64, Micros)>, String> {
    let channels = state.store.channels(account.workspace_id, Viewer::All).await.map_err(|e| e.to_string())?;
    let Some(channel) =
        channels.iter().find(|c| c.waba_id == account.waba_id && c.deleted_at.is_none() && c.provider.graph_api())
    else {
        return Err("no number of this WhatsApp Business Account is connected".into());
    };
    let client = state.graph_client(channel).map_err(|e| format!("{e:?}"))?;
    let start = day * DAY_SECS;
    let (points, unread) =
        client.pricing_analytics(&account.waba_id, start, start + DAY_SECS).await.map_err(|e| e.to_string())?;
    if unread > 0 {
        return Err(format!("{unread} data points of the provider's answer could not be read"));
    }
    let mut totals: BTreeMap<(String, String), (i64, Micros)> = BTreeMap::new();
    for p in points {
        let slot = totals.entry((p.category, p.pricing_type)).or_insert((0, Micros::ZERO));
        slot.0 += p.volume;
        slot.1 = Micros(slot.1.0 + p.cost.0);
    }
    Ok(totals)
}

/// Reconciles the accounts whose due day has no comparison yet (the fees worker, every pass).
pub async fn reconcile_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let day = due_day(now);
    // A failed comparison (the provider unreachable) is tried again an hour later.
    let accounts = state.store.accounts_to_reconcile(day, now.plus_secs(-3600), 20).await?;
    for account in &accounts {
        // Only Meta reports what it charged (`pricing_analytics`); an account whose numbers are
        // all another provider's (Twilio's) has nothing to compare with.
        let channels = state.store.channels(account.workspace_id, Viewer::All).await?;
        let reported =
            channels.iter().any(|c| c.waba_id == account.waba_id && c.deleted_at.is_none() && c.provider.graph_api());
        let elsewhere = channels.iter().any(|c| c.waba_id == account.waba_id && c.deleted_at.is_none());
        if elsewhere && !reported {
            continue;
        }
        reconcile(state, account, day).await?;
    }
    Ok(accounts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_due_from_three_in_the_morning_after_it() {
        let at = |t: &str| Timestamp::parse_rfc3339(t).unwrap();
        let oct14 = at("2026-10-14T00:00:00Z").as_secs() / DAY_SECS;
        assert_eq!(due_day(at("2026-10-15T02:59:59Z")), oct14 - 1);
        assert_eq!(due_day(at("2026-10-15T03:00:00Z")), oct14);
        assert_eq!(due_day(at("2026-10-15T23:00:00Z")), oct14);
    }

    #[test]
    fn lines_missing_on_a_side_or_unequal_are_differences() {
        let key = |c: &str| (c.to_owned(), "regular".to_owned());
        let ours = BTreeMap::from([(key("marketing"), (2, Micros(125_000))), (key("utility"), (1, Micros(6_800)))]);
        let theirs = BTreeMap::from([(key("marketing"), (3, Micros(187_500))), (key("utility"), (1, Micros(6_800)))]);
        let found = differences(&ours, &theirs);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["provider"]["messages"], 3);
        assert!(differences(&ours, &ours).is_empty());
        let only_theirs = BTreeMap::from([(key("service"), (1, Micros(0)))]);
        assert_eq!(differences(&ours, &only_theirs).len(), 3);
    }
}
