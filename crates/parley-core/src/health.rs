//! A number's health as Meta reports it (spec/meta-cloud-api.md §5.5–§5.10, §6.13, §9.4–§9.5):
//! quality rating, number status, messaging limit tier, throughput and display-name status, and
//! how each webhook about them turns into a [`HealthChange`]. Pure: the store applies changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Green, yellow, red (high, medium, low) — or not rated yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityRating {
    Green,
    Yellow,
    Red,
    Unknown,
}

impl QualityRating {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityRating::Green => "green",
            QualityRating::Yellow => "yellow",
            QualityRating::Red => "red",
            QualityRating::Unknown => "unknown",
        }
    }

    /// Meta's `GREEN`/`YELLOW`/`RED`/`NA`/`UNKNOWN` (and the UI words high/medium/low), any case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "green" | "high" => QualityRating::Green,
            "yellow" | "medium" => QualityRating::Yellow,
            "red" | "low" => QualityRating::Red,
            "na" | "unknown" | "" => QualityRating::Unknown,
            _ => return None,
        })
    }
}

/// A messaging limit tier: unique business-initiated recipients per rolling 24 h.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessagingTier {
    Limited(i64),
    Unlimited,
}

impl MessagingTier {
    /// `None` for unlimited (the form `Channel::messaging_limit` keeps).
    pub fn limit(self) -> Option<i64> {
        match self {
            MessagingTier::Limited(n) => Some(n),
            MessagingTier::Unlimited => None,
        }
    }

    pub fn from_limit(limit: Option<i64>) -> Self {
        limit.map_or(MessagingTier::Unlimited, MessagingTier::Limited)
    }

    /// Meta's name: `TIER_250`, `TIER_2K`, `TIER_100K`, `TIER_UNLIMITED`.
    pub fn name(self) -> String {
        match self {
            MessagingTier::Unlimited => "TIER_UNLIMITED".into(),
            MessagingTier::Limited(n) if n >= 1000 && n % 1000 == 0 => format!("TIER_{}K", n / 1000),
            MessagingTier::Limited(n) => format!("TIER_{n}"),
        }
    }

    /// `TIER_2K`, `TIER_250`, `TIER_UNLIMITED`, or the integer forms Meta's docs also show
    /// (`2000`, `-1` for unlimited, spec §5.10). `TIER_NOT_SET` and anything else: `None`.
    pub fn parse(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => match n.as_i64()? {
                n if n < 0 => Some(MessagingTier::Unlimited),
                0 => None,
                n => Some(MessagingTier::Limited(n)),
            },
            Value::String(s) => {
                let s = s.trim().to_ascii_uppercase();
                if let Ok(n) = s.parse::<i64>() {
                    return MessagingTier::parse(&Value::from(n));
                }
                let rest = s.strip_prefix("TIER_")?;
                if rest == "UNLIMITED" {
                    return Some(MessagingTier::Unlimited);
                }
                let (digits, factor) = match rest.strip_suffix('K') {
                    Some(d) => (d, 1000),
                    None => (rest, 1),
                };
                let n: i64 = digits.parse().ok()?;
                n.checked_mul(factor).filter(|n| *n > 0).map(MessagingTier::Limited)
            }
            _ => None,
        }
    }
}

impl Serialize for MessagingTier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// A number's health as Parley last heard it. Texts keep Meta's words in lower case
/// (`connected`, `flagged`, `approved`, `standard`): their lists are open-ended (spec §6.13).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberHealth {
    pub quality_rating: Option<QualityRating>,
    pub status: Option<String>,
    pub name_status: Option<String>,
    pub verified_name: Option<String>,
    pub throughput_level: Option<String>,
}

/// What one report changes; `None` fields stay as they are. `messaging_limit` is
/// `Some(None)` for unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HealthChange {
    pub quality_rating: Option<QualityRating>,
    pub status: Option<String>,
    pub name_status: Option<String>,
    pub verified_name: Option<String>,
    pub throughput_level: Option<String>,
    pub messaging_limit: Option<Option<i64>>,
    /// A flagged number is no longer flagged (connected again); any other status stays.
    pub unflag: bool,
}

impl HealthChange {
    pub fn is_empty(&self) -> bool {
        *self == HealthChange::default()
    }

    /// Applies the change to `health` (and `limit`); answers the fields that really changed,
    /// as `(field, before, after)`, for events and notifications.
    pub fn apply(&self, health: &mut NumberHealth, limit: &mut Option<i64>) -> Vec<(&'static str, Value, Value)> {
        let mut changed = Vec::new();
        fn set<T: PartialEq + Clone + Serialize>(
            changed: &mut Vec<(&'static str, Value, Value)>,
            field: &'static str,
            slot: &mut Option<T>,
            new: &Option<T>,
        ) {
            if let Some(v) = new
                && slot.as_ref() != Some(v)
            {
                let before = serde_json::to_value(&*slot).unwrap_or(Value::Null);
                *slot = Some(v.clone());
                changed.push((field, before, serde_json::to_value(v).unwrap_or(Value::Null)));
            }
        }
        set(&mut changed, "quality_rating", &mut health.quality_rating, &self.quality_rating);
        let unflagged = (self.unflag && health.status.as_deref() == Some("flagged")).then(|| "connected".to_owned());
        set(&mut changed, "status", &mut health.status, &self.status.clone().or(unflagged));
        set(&mut changed, "name_status", &mut health.name_status, &self.name_status);
        set(&mut changed, "verified_name", &mut health.verified_name, &self.verified_name);
        set(&mut changed, "throughput_level", &mut health.throughput_level, &self.throughput_level);
        if let Some(new) = self.messaging_limit
            && *limit != new
        {
            changed.push((
                "messaging_limit",
                serde_json::to_value(MessagingTier::from_limit(*limit)).unwrap_or(Value::Null),
                serde_json::to_value(MessagingTier::from_limit(new)).unwrap_or(Value::Null),
            ));
            *limit = new;
        }
        changed
    }
}

/// Which numbers a report is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", content = "display_phone_number", rename_all = "snake_case")]
pub enum HealthScope {
    /// Every number of the business account (portfolio limits, account restrictions).
    Account,
    /// The number displayed as this (Meta names numbers by display number in these webhooks).
    Number(String),
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn lower(v: &Value, key: &str) -> Option<String> {
    text(v, key).map(|s| s.to_ascii_lowercase())
}

/// A webhook `field` and its `value` as health changes (what concerns one number, and what
/// concerns every number of the account), when the field is about health; empty otherwise.
pub fn health_change(field: &str, value: &Value) -> Vec<(HealthScope, HealthChange)> {
    let number = || text(value, "display_phone_number").map(HealthScope::Number).unwrap_or(HealthScope::Account);
    let account_limit = |tier: MessagingTier| {
        (HealthScope::Account, HealthChange { messaging_limit: Some(tier.limit()), ..Default::default() })
    };
    match field {
        "phone_number_quality_update" => {
            let mut change = HealthChange::default();
            let event = text(value, "event").unwrap_or_default().to_ascii_uppercase();
            match event.as_str() {
                "FLAGGED" => change.status = Some("flagged".into()),
                // The 2023 rules: a flagged number is either unflagged or, after 7 days,
                // downgraded one tier and connected again. Other statuses stay.
                "UNFLAGGED" | "DOWNGRADE" => change.unflag = true,
                "THROUGHPUT_UPGRADE" => change.throughput_level = Some("high".into()),
                _ => {}
            }
            // The portfolio limit is the whole account's; `current_limit`, the number's own, is
            // being removed (spec §5.5) and only counts without it.
            let portfolio = value.get("max_daily_conversations_per_business").and_then(MessagingTier::parse);
            if portfolio.is_none() {
                change.messaging_limit =
                    value.get("current_limit").and_then(MessagingTier::parse).map(MessagingTier::limit);
            }
            let mut out = Vec::new();
            if !change.is_empty() {
                out.push((number(), change));
            }
            out.extend(portfolio.map(account_limit));
            out
        }
        "business_capability_update" => value
            .get("max_daily_conversations_per_business")
            .and_then(MessagingTier::parse)
            .map(account_limit)
            .into_iter()
            .collect(),
        "phone_number_name_update" => {
            let Some(decision) = lower(value, "decision") else { return Vec::new() };
            let verified_name = if decision == "approved" { text(value, "requested_verified_name") } else { None };
            vec![(number(), HealthChange { name_status: Some(decision), verified_name, ..Default::default() })]
        }
        "account_update" => {
            let event = text(value, "event").unwrap_or_default().to_ascii_uppercase();
            let status = match event.as_str() {
                "ACCOUNT_RESTRICTION" => "restricted",
                "ACCOUNT_RECONNECTED" => "connected",
                "ACCOUNT_DISCONNECTED" | "ACCOUNT_OFFBOARDED" => "disconnected",
                "ACCOUNT_DELETED" => "deleted",
                "DISABLED_UPDATE" => match value.pointer("/ban_info/waba_ban_state").and_then(Value::as_str) {
                    Some("DISABLE") => "banned",
                    Some("REINSTATE") => "connected",
                    _ => return Vec::new(),
                },
                _ => return Vec::new(),
            };
            vec![(HealthScope::Account, HealthChange { status: Some(status.into()), ..Default::default() })]
        }
        _ => Vec::new(),
    }
}

/// The phone number node (`GET /<PHONE_NUMBER_ID>`, spec §6.13) as a health change.
pub fn health_from_number_node(node: &Value) -> HealthChange {
    let tier = node
        .get("whatsapp_business_manager_messaging_limit")
        .and_then(MessagingTier::parse)
        .or_else(|| node.get("messaging_limit_tier").and_then(MessagingTier::parse));
    HealthChange {
        quality_rating: node.get("quality_rating").and_then(Value::as_str).and_then(QualityRating::parse),
        status: lower(node, "status"),
        name_status: lower(node, "name_status"),
        verified_name: text(node, "verified_name"),
        throughput_level: node.pointer("/throughput/level").and_then(Value::as_str).map(str::to_ascii_lowercase),
        messaging_limit: tier.map(MessagingTier::limit),
        unflag: false,
    }
}

/// Digits only, to match a webhook's display number (`+1 555-000-1111`) to a channel's.
pub fn same_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(a), digits(b));
    !a.is_empty() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tiers_parse_in_every_form() {
        assert_eq!(MessagingTier::parse(&json!("TIER_250")), Some(MessagingTier::Limited(250)));
        assert_eq!(MessagingTier::parse(&json!("TIER_2K")), Some(MessagingTier::Limited(2000)));
        assert_eq!(MessagingTier::parse(&json!("tier_100k")), Some(MessagingTier::Limited(100_000)));
        assert_eq!(MessagingTier::parse(&json!("TIER_1K")), Some(MessagingTier::Limited(1000)));
        assert_eq!(MessagingTier::parse(&json!("TIER_UNLIMITED")), Some(MessagingTier::Unlimited));
        assert_eq!(MessagingTier::parse(&json!(10000)), Some(MessagingTier::Limited(10_000)));
        assert_eq!(MessagingTier::parse(&json!(-1)), Some(MessagingTier::Unlimited));
        assert_eq!(MessagingTier::parse(&json!("2000")), Some(MessagingTier::Limited(2000)));
        assert_eq!(MessagingTier::parse(&json!("TIER_NOT_SET")), None);
        assert_eq!(MessagingTier::parse(&json!(0)), None);
        assert_eq!(MessagingTier::parse(&json!(null)), None);
        assert_eq!(MessagingTier::Limited(2000).name(), "TIER_2K");
        assert_eq!(MessagingTier::Limited(250).name(), "TIER_250");
        assert_eq!(MessagingTier::Unlimited.name(), "TIER_UNLIMITED");
    }

    #[test]
    fn quality_words() {
        assert_eq!(QualityRating::parse("GREEN"), Some(QualityRating::Green));
        assert_eq!(QualityRating::parse("low"), Some(QualityRating::Red));
        assert_eq!(QualityRating::parse("NA"), Some(QualityRating::Unknown));
        assert_eq!(QualityRating::parse("purple"), None);
    }

    fn one(field: &str, value: Value) -> (HealthScope, HealthChange) {
        let mut all = health_change(field, &value);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn quality_update_webhooks() {
        let (scope, change) = one(
            "phone_number_quality_update",
            json!({"display_phone_number": "15550001111", "event": "UPGRADE", "old_limit": "TIER_250", "current_limit": "TIER_2K"}),
        );
        assert_eq!(scope, HealthScope::Number("15550001111".into()));
        assert_eq!(change.messaging_limit, Some(Some(2000)));
        let (_, flagged) = one(
            "phone_number_quality_update",
            json!({"display_phone_number": "1", "event": "FLAGGED", "current_limit": "TIER_10K"}),
        );
        assert_eq!(flagged.status.as_deref(), Some("flagged"));
        let (_, down) = one(
            "phone_number_quality_update",
            json!({"display_phone_number": "1", "event": "DOWNGRADE", "old_limit": "TIER_10K", "current_limit": "TIER_1K"}),
        );
        assert!(down.unflag && down.status.is_none(), "only a flagged number becomes connected");
        // The portfolio limit is the whole account's; the event's own part stays with the number.
        let both = health_change(
            "phone_number_quality_update",
            &json!({"display_phone_number": "1", "event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_250",
                "max_daily_conversations_per_business": "TIER_UNLIMITED"}),
        );
        assert_eq!(both.len(), 2);
        assert_eq!(
            (&both[0].0, both[0].1.throughput_level.as_deref()),
            (&HealthScope::Number("1".into()), Some("high"))
        );
        assert_eq!(
            (&both[0].1.messaging_limit, &both[1].0, both[1].1.messaging_limit),
            (&None, &HealthScope::Account, Some(None))
        );
        assert!(
            health_change("phone_number_quality_update", &json!({"display_phone_number": "1", "event": "ONBOARDING"}))
                .is_empty()
        );
        assert_eq!(MessagingTier::parse(&json!("TIER_9223372036854776K")), None, "no overflow");
    }

    #[test]
    fn account_level_webhooks() {
        let (scope, c) = one("business_capability_update", json!({"max_daily_conversations_per_business": 2000}));
        assert_eq!((scope, c.messaging_limit), (HealthScope::Account, Some(Some(2000))));
        assert!(health_change("business_capability_update", &json!({"max_phone_numbers_per_business": 2})).is_empty());
        let (_, c) = one("account_update", json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": []}));
        assert_eq!(c.status.as_deref(), Some("restricted"));
        let (_, c) =
            one("account_update", json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}));
        assert_eq!(c.status.as_deref(), Some("banned"));
        assert!(health_change("account_update", &json!({"event": "PARTNER_ADDED"})).is_empty());
        let (_, c) = one(
            "phone_number_name_update",
            json!({"display_phone_number": "1", "decision": "APPROVED", "requested_verified_name": "Acme"}),
        );
        assert_eq!((c.name_status.as_deref(), c.verified_name.as_deref()), (Some("approved"), Some("Acme")));
        assert!(health_change("messages", &json!({})).is_empty());
    }

    #[test]
    fn number_node() {
        let c = health_from_number_node(&json!({"id": "1", "quality_rating": "YELLOW", "status": "CONNECTED",
            "name_status": "APPROVED", "verified_name": "Acme", "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": "TIER_10K", "messaging_limit_tier": "TIER_1K"}));
        assert_eq!(c.quality_rating, Some(QualityRating::Yellow));
        assert_eq!(c.status.as_deref(), Some("connected"));
        assert_eq!(c.throughput_level.as_deref(), Some("standard"));
        assert_eq!(c.messaging_limit, Some(Some(10_000)), "the portfolio limit, not the deprecated field");
    }

    #[test]
    fn applying_reports_only_real_changes() {
        let mut health = NumberHealth { status: Some("connected".into()), ..Default::default() };
        let mut limit = Some(250);
        let change = HealthChange {
            status: Some("connected".into()),
            quality_rating: Some(QualityRating::Red),
            messaging_limit: Some(Some(2000)),
            ..Default::default()
        };
        let changed = change.apply(&mut health, &mut limit);
        let fields: Vec<&str> = changed.iter().map(|c| c.0).collect();
        assert_eq!(fields, ["quality_rating", "messaging_limit"]);
        assert_eq!(changed[1].1, json!("TIER_250"));
        assert_eq!(changed[1].2, json!("TIER_2K"));
        assert_eq!(limit, Some(2000));
        assert!(change.apply(&mut health, &mut limit).is_empty(), "the same report twice changes nothing");
        let unflag = HealthChange { unflag: true, ..Default::default() };
        assert!(unflag.apply(&mut health, &mut limit).is_empty(), "a connected number stays as it is");
        health.status = Some("banned".into());
        assert!(unflag.apply(&mut health, &mut limit).is_empty(), "a banned one too");
        health.status = Some("flagged".into());
        assert_eq!(unflag.apply(&mut health, &mut limit)[0].2, json!("connected"));
    }

    #[test]
    fn numbers_match_on_digits() {
        assert!(same_number("+1 555-000-1111", "15550001111"));
        assert!(!same_number("15550001111", "15550001112"));
        assert!(!same_number("", ""));
    }
}
