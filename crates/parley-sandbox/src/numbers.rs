//! Number state (spec §6.13, §9.4, §9.5): quality rating, status, display name and throughput as
//! the phone number node shows them, and messaging limit tiers under two rule sets.
//!
//! - [`LimitRules::Current`] (since Oct 2025): one limit per WABA (standing for the business
//!   portfolio), 250 → 2K → 10K → 100K → unlimited. On `tick()`, a WABA whose unique
//!   business-initiated recipients over the last 7 days reach half its limit, with no RED number
//!   and no upgrade in the last 6 h, goes up one level: `business_capability_update` (integer
//!   limit, -1 for unlimited) on the WABA, plus — so apps written for the older webhooks follow
//!   too — a `phone_number_quality_update` (`UPGRADE`, `old_limit`, `current_limit`,
//!   `max_daily_conversations_per_business` as a tier name) for each of its numbers. Quality
//!   drops never downgrade, and quality changes emit nothing (Meta has no webhook for them).
//! - [`LimitRules::Legacy2023`]: one limit per number, starting at 1K (ladder 250 → 1K → 10K →
//!   100K → unlimited; 250 is the unverified start and only reached by `set_tier` or a
//!   downgrade). On `tick()`, a CONNECTED number that is not RED and reached twice its limit in
//!   unique recipients over 7 days goes up one level (`UPGRADE`). A number turning RED is
//!   `FLAGGED`; back to GREEN/YELLOW within 7 days it is `UNFLAGGED`; flagged for 7 days, it is
//!   downgraded one level (`DOWNGRADE`, staying put at the bottom) and CONNECTED again.
//!
//! The sandbox refuses no send because of the limit: Meta documents no error code for it (spec
//! §9.4), and Parley is the one that must not exceed it.

use std::collections::HashMap;

use parley_core::health::MessagingTier;
use serde_json::{Value, json};

use crate::profile::Profile;
use crate::{ControlError, Inner, Item, Number, Sandbox};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Which messaging limit rules the sandbox plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LimitRules {
    /// Per business portfolio, since 7 Oct 2025 (spec §9.4).
    #[default]
    Current,
    /// Per phone number, with the Flagged state (the rules of 2023).
    Legacy2023,
}

/// A messaging limit: Parley's own type, so the sandbox and Parley spell tiers alike.
type Tier = MessagingTier;

const CURRENT_LADDER: [Tier; 5] =
    [Tier::Limited(250), Tier::Limited(2_000), Tier::Limited(10_000), Tier::Limited(100_000), Tier::Unlimited];
const LEGACY_LADDER: [Tier; 5] =
    [Tier::Limited(250), Tier::Limited(1_000), Tier::Limited(10_000), Tier::Limited(100_000), Tier::Unlimited];

/// One of the ladders' tiers by name (`TIER_2K`, any case).
fn parse_tier(s: &str) -> Result<Tier, ControlError> {
    let upper = s.trim().to_ascii_uppercase();
    let known = CURRENT_LADDER.iter().chain(&LEGACY_LADDER).copied().find(|t| t.name() == upper);
    known.ok_or_else(|| {
        ControlError::Invalid(format!("tier {s}: TIER_250, TIER_1K, TIER_2K, TIER_10K, TIER_100K or TIER_UNLIMITED"))
    })
}

/// `max_daily_conversations_per_business` as `business_capability_update` gives it.
fn per_business(tier: Tier) -> i64 {
    tier.limit().unwrap_or(-1)
}

fn up(tier: Tier, ladder: &[Tier]) -> Option<Tier> {
    ladder.iter().copied().find(|t| *t > tier)
}

fn down(tier: Tier, ladder: &[Tier]) -> Option<Tier> {
    ladder.iter().rev().copied().find(|t| *t < tier)
}

/// What Meta knows about one number.
pub(crate) struct NumberState {
    quality: String,
    status: String,
    name_status: String,
    verified_name: String,
    throughput: String,
    code_verification_status: String,
    /// The number's own limit (2023 rules).
    tier: Tier,
    /// Since when it is FLAGGED (2023 rules), clock seconds.
    flagged_at: Option<i64>,
    pub profile: Profile,
}

impl Default for NumberState {
    fn default() -> Self {
        NumberState {
            quality: "GREEN".into(),
            status: "CONNECTED".into(),
            name_status: "APPROVED".into(),
            verified_name: "Sandbox Business".into(),
            throughput: "STANDARD".into(),
            code_verification_status: "VERIFIED".into(),
            tier: Tier::Limited(1_000),
            flagged_at: None,
            profile: Profile::default(),
        }
    }
}

/// A WABA's limit (current rules) and when it last went up.
struct WabaState {
    tier: Tier,
    last_upgrade: Option<i64>,
}

impl Default for WabaState {
    fn default() -> Self {
        WabaState { tier: Tier::Limited(250), last_upgrade: None }
    }
}

/// Numbers, accounts and the business-initiated reach the tiers are computed from.
#[derive(Default)]
pub(crate) struct Accounts {
    numbers: HashMap<String, NumberState>,
    wabas: HashMap<String, WabaState>,
    rules: LimitRules,
    /// Phone number id → recipient → last business-initiated template send (clock seconds).
    /// One entry per recipient, so memory follows unique recipients, not sends.
    number_reach: HashMap<String, HashMap<String, i64>>,
    /// The same per WABA.
    waba_reach: HashMap<String, HashMap<String, i64>>,
}

impl Accounts {
    pub fn register(&mut self, phone_number_id: &str) {
        self.numbers.entry(phone_number_id.to_owned()).or_default();
    }

    pub fn number(&mut self, phone_number_id: &str) -> &mut NumberState {
        self.numbers.entry(phone_number_id.to_owned()).or_default()
    }
}

/// Unique recipients of `key` over the last 7 days.
fn reach(map: &HashMap<String, HashMap<String, i64>>, key: &str, now: i64) -> i64 {
    map.get(key).map_or(0, |m| m.values().filter(|t| now - **t < 7 * DAY).count() as i64)
}

fn change(waba_id: &str, field: &str, value: Value) -> Item {
    Item::Change { waba_id: waba_id.to_owned(), field: field.to_owned(), value }
}

/// A `phone_number_quality_update` as the 2023 rules sent it.
fn legacy_event(number: &Number, event: &str, old: Option<Tier>, current: Tier) -> Item {
    let mut value =
        json!({"display_phone_number": number.display_phone_number, "event": event, "current_limit": current.name()});
    if let Some(old) = old {
        value["old_limit"] = json!(old.name());
    }
    change(&number.waba_id, "phone_number_quality_update", value)
}

/// A WABA's limit changed (current rules): the capability update and, per number, the
/// number-level event with the portfolio limit.
fn waba_events(waba: &str, numbers: &[Number], old: Tier, new: Tier) -> Vec<Item> {
    let event = if new > old { "UPGRADE" } else { "DOWNGRADE" };
    let mut items = vec![change(
        waba,
        "business_capability_update",
        json!({"max_daily_conversations_per_business": per_business(new)}),
    )];
    for n in numbers.iter().filter(|n| n.waba_id == waba) {
        items.push(change(
            waba,
            "phone_number_quality_update",
            json!({"display_phone_number": n.display_phone_number, "event": event, "old_limit": old.name(),
                "current_limit": new.name(), "max_daily_conversations_per_business": new.name()}),
        ));
    }
    items
}

impl Inner {
    fn registered(&self) -> Vec<Number> {
        let mut numbers: Vec<Number> = self.numbers.lock().expect("numbers").values().cloned().collect();
        numbers.sort_by(|a, b| a.phone_number_id.cmp(&b.phone_number_id));
        numbers
    }

    fn registered_number(&self, phone_number_id: &str) -> Result<Number, ControlError> {
        let numbers = self.numbers.lock().expect("numbers");
        numbers.get(phone_number_id).cloned().ok_or_else(|| ControlError::NotFound(format!("number {phone_number_id}")))
    }

    /// `GET /<PHONE_NUMBER_ID>` (spec §6.13), every field.
    pub(crate) fn number_node(&self, phone_number_id: &str) -> Option<Value> {
        let number = self.registered_number(phone_number_id).ok()?;
        let mut accounts = self.accounts.lock().expect("accounts");
        let tier = match accounts.rules {
            LimitRules::Current => accounts.wabas.entry(number.waba_id.clone()).or_default().tier,
            LimitRules::Legacy2023 => accounts.number(phone_number_id).tier,
        };
        let n = accounts.number(phone_number_id);
        Some(json!({
            "id": number.phone_number_id, "display_phone_number": number.display_phone_number,
            "verified_name": n.verified_name, "quality_rating": n.quality, "status": n.status,
            "name_status": n.name_status, "code_verification_status": n.code_verification_status,
            "whatsapp_business_manager_messaging_limit": tier.name(), "messaging_limit_tier": tier.name(),
            "throughput": {"level": n.throughput}, "platform_type": "CLOUD_API", "account_mode": "LIVE",
        }))
    }

    /// A template went to `to` outside its window: remembered for the number and its WABA.
    pub(crate) fn record_reach(&self, phone_number_id: &str, to: &str, now: i64) {
        let Ok(number) = self.registered_number(phone_number_id) else { return };
        let mut accounts = self.accounts.lock().expect("accounts");
        accounts.number_reach.entry(number.phone_number_id).or_default().insert(to.to_owned(), now);
        accounts.waba_reach.entry(number.waba_id).or_default().insert(to.to_owned(), now);
    }

    /// Upgrades (and, under the 2023 rules, downgrades of numbers flagged for 7 days) due now.
    pub(crate) fn tick_limits(&self) -> Vec<Item> {
        let now = self.clock.now().as_secs();
        let numbers = self.registered();
        let mut guard = self.accounts.lock().expect("accounts");
        let acc = &mut *guard;
        for map in acc.number_reach.values_mut().chain(acc.waba_reach.values_mut()) {
            map.retain(|_, t| now - *t < 7 * DAY);
        }
        let mut items = Vec::new();
        match acc.rules {
            LimitRules::Current => {
                let mut wabas: Vec<&str> = numbers.iter().map(|n| n.waba_id.as_str()).collect();
                wabas.sort_unstable();
                wabas.dedup();
                for waba in wabas {
                    let red = numbers
                        .iter()
                        .filter(|n| n.waba_id == waba)
                        .any(|n| acc.numbers.get(&n.phone_number_id).is_some_and(|s| s.quality == "RED"));
                    let count = reach(&acc.waba_reach, waba, now);
                    let state = acc.wabas.entry(waba.to_owned()).or_default();
                    let Tier::Limited(limit) = state.tier else { continue };
                    let recent = state.last_upgrade.is_some_and(|t| now - t < 6 * HOUR);
                    let Some(next) = up(state.tier, &CURRENT_LADDER) else { continue };
                    if red || recent || count * 2 < limit {
                        continue;
                    }
                    let old = std::mem::replace(&mut state.tier, next);
                    state.last_upgrade = Some(now);
                    items.extend(waba_events(waba, &numbers, old, next));
                }
            }
            LimitRules::Legacy2023 => {
                for number in &numbers {
                    let count = reach(&acc.number_reach, &number.phone_number_id, now);
                    let state = acc.numbers.entry(number.phone_number_id.clone()).or_default();
                    if state.flagged_at.is_some_and(|t| now - t >= 7 * DAY) {
                        state.flagged_at = None;
                        state.status = "CONNECTED".into();
                        let old = state.tier;
                        state.tier = down(old, &LEGACY_LADDER).unwrap_or(old);
                        items.push(legacy_event(number, "DOWNGRADE", Some(old), state.tier));
                        continue;
                    }
                    let Tier::Limited(limit) = state.tier else { continue };
                    let Some(next) = up(state.tier, &LEGACY_LADDER) else { continue };
                    if state.status == "CONNECTED" && state.quality != "RED" && count >= 2 * limit {
                        let old = std::mem::replace(&mut state.tier, next);
                        items.push(legacy_event(number, "UPGRADE", Some(old), next));
                    }
                }
            }
        }
        items
    }

    pub(crate) fn set_number_quality(&self, phone_number_id: &str, quality: &str) -> Result<(), ControlError> {
        let quality = quality.trim().to_ascii_uppercase();
        if !["GREEN", "YELLOW", "RED", "NA", "UNKNOWN"].contains(&quality.as_str()) {
            return Err(ControlError::Invalid(format!("quality {quality}: GREEN, YELLOW, RED or NA")));
        }
        let number = self.registered_number(phone_number_id)?;
        let now = self.clock.now().as_secs();
        let mut accounts = self.accounts.lock().expect("accounts");
        let legacy = accounts.rules == LimitRules::Legacy2023;
        let state = accounts.number(phone_number_id);
        let was = std::mem::replace(&mut state.quality, quality.clone());
        let mut items = Vec::new();
        if legacy && quality == "RED" && was != "RED" && state.flagged_at.is_none() {
            state.status = "FLAGGED".into();
            state.flagged_at = Some(now);
            items.push(legacy_event(&number, "FLAGGED", None, state.tier));
        } else if legacy
            && (quality == "GREEN" || quality == "YELLOW")
            && state.flagged_at.is_some_and(|t| now - t < 7 * DAY)
        {
            state.status = "CONNECTED".into();
            state.flagged_at = None;
            items.push(legacy_event(&number, "UNFLAGGED", None, state.tier));
        }
        drop(accounts);
        self.emit(items);
        Ok(())
    }

    pub(crate) fn set_number_status(&self, phone_number_id: &str, status: &str) -> Result<(), ControlError> {
        const KNOWN: [&str; 12] = [
            "CONNECTED",
            "PENDING",
            "FLAGGED",
            "RESTRICTED",
            "RATE_LIMITED",
            "BANNED",
            "MIGRATED",
            "DISCONNECTED",
            "DELETED",
            "UNVERIFIED",
            "OFFLINE",
            "UNKNOWN",
        ];
        let status = status.trim().to_ascii_uppercase();
        if !KNOWN.contains(&status.as_str()) {
            return Err(ControlError::Invalid(format!("status {status}: one of {}", KNOWN.join(", "))));
        }
        self.registered_number(phone_number_id)?;
        let now = self.clock.now().as_secs();
        let mut accounts = self.accounts.lock().expect("accounts");
        let state = accounts.number(phone_number_id);
        // Flagged by hand counts like flagged by quality: the 7-day downgrade clock starts.
        let since = state.flagged_at.unwrap_or(now);
        state.flagged_at = (status == "FLAGGED").then_some(since);
        state.status = status;
        Ok(())
    }

    /// Forces a number's own limit (2023 rules); `UPGRADE`/`DOWNGRADE` when it changed.
    pub(crate) fn set_tier(&self, phone_number_id: &str, tier: &str) -> Result<(), ControlError> {
        let tier = parse_tier(tier)?;
        let number = self.registered_number(phone_number_id)?;
        let mut accounts = self.accounts.lock().expect("accounts");
        let state = accounts.number(phone_number_id);
        let old = std::mem::replace(&mut state.tier, tier);
        drop(accounts);
        if old != tier {
            let event = if tier > old { "UPGRADE" } else { "DOWNGRADE" };
            self.emit(vec![legacy_event(&number, event, Some(old), tier)]);
        }
        Ok(())
    }

    /// Forces a WABA's limit (current rules). An upgrade counts as the last one for the 6 h rule.
    pub(crate) fn set_tier_waba(&self, waba_id: &str, tier: &str) -> Result<(), ControlError> {
        let tier = parse_tier(tier)?;
        let numbers = self.registered();
        if !numbers.iter().any(|n| n.waba_id == waba_id) {
            return Err(ControlError::NotFound(format!("account {waba_id} (no registered number)")));
        }
        let now = self.clock.now().as_secs();
        let mut accounts = self.accounts.lock().expect("accounts");
        let state = accounts.wabas.entry(waba_id.to_owned()).or_default();
        let old = std::mem::replace(&mut state.tier, tier);
        if tier > old {
            state.last_upgrade = Some(now);
        }
        drop(accounts);
        if old != tier {
            self.emit(waba_events(waba_id, &numbers, old, tier));
        }
        Ok(())
    }

    /// Forces the limit the rules in force apply to this number: its WABA's, or its own.
    pub(crate) fn set_tier_by_rules(&self, phone_number_id: &str, tier: &str) -> Result<(), ControlError> {
        let number = self.registered_number(phone_number_id)?;
        let rules = self.accounts.lock().expect("accounts").rules;
        match rules {
            LimitRules::Current => self.set_tier_waba(&number.waba_id, tier),
            LimitRules::Legacy2023 => self.set_tier(phone_number_id, tier),
        }
    }

    pub(crate) fn set_limit_rules(&self, rules: LimitRules) {
        self.accounts.lock().expect("accounts").rules = rules;
    }
}

impl Sandbox {
    /// Which messaging limit rules apply from now on (default: current).
    pub fn set_limit_rules(&self, rules: LimitRules) {
        self.inner.set_limit_rules(rules);
    }

    /// Sets a number's quality rating (`GREEN`, `YELLOW`, `RED`, `NA`). Under the 2023 rules a
    /// RED number is flagged, and a recovery within 7 days unflags it (with their webhooks).
    pub fn set_number_quality(&self, phone_number_id: &str, quality: &str) -> Result<(), ControlError> {
        self.inner.set_number_quality(phone_number_id, quality)
    }

    /// Sets a number's status (`CONNECTED`, `FLAGGED`, `RESTRICTED`, …); no webhook.
    pub fn set_number_status(&self, phone_number_id: &str, status: &str) -> Result<(), ControlError> {
        self.inner.set_number_status(phone_number_id, status)
    }

    /// Forces a number's own limit (`TIER_10K`…, 2023 rules) and emits `UPGRADE`/`DOWNGRADE`.
    pub fn set_tier(&self, phone_number_id: &str, tier: &str) -> Result<(), ControlError> {
        self.inner.set_tier(phone_number_id, tier)
    }

    /// Forces a WABA's limit (`TIER_2K`…, current rules) and emits its webhooks.
    pub fn set_tier_waba(&self, waba_id: &str, tier: &str) -> Result<(), ControlError> {
        self.inner.set_tier_waba(waba_id, tier)
    }

    /// The limit the phone number node shows now (`TIER_250`…), under the rules in force.
    pub fn tier(&self, phone_number_id: &str) -> Option<String> {
        self.inner.number_node(phone_number_id)?["whatsapp_business_manager_messaging_limit"].as_str().map(Into::into)
    }
}
