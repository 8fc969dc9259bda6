//! Values of the template, number-health, notification and assignment traits.

use parley_core::Timestamp;
use parley_core::health::NumberHealth;
use parley_core::ids::{ChannelId, UserId};
use serde::Serialize;
use serde_json::Value;

/// A template as stored: the provider's current view of it, and (from `template`) its versions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredTemplate {
    pub id: i64,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    /// `marketing`, `utility` or `authentication`.
    pub category: String,
    /// `pending`, `approved`, `rejected`, `paused`, `disabled`, …
    pub status: String,
    /// `green`, `yellow`, `red` or `unknown`; `None` until the provider rates it.
    pub quality: Option<String>,
    pub rejected_reason: Option<String>,
    /// The provider's word on the last status change (a pause's title, a rejection's detail).
    pub status_detail: Option<String>,
    /// `positional` or `named`.
    pub parameter_format: String,
    /// The components sends are checked against: those of the approved version.
    pub components: Value,
    pub provider_template_id: Option<String>,
    /// The newest version's number.
    pub version: i64,
    /// The version the provider approved last.
    pub approved_version: Option<i64>,
    /// A category change the provider announced, and when (Unix seconds).
    pub next_category: Option<String>,
    pub next_category_at: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Newest first; empty in lists.
    pub versions: Vec<TemplateVersion>,
}

/// One submitted (or observed) version of a template. Never edited once submitted: only its
/// review outcome is filled in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateVersion {
    pub version: i64,
    pub category: String,
    pub components: Value,
    /// `submitting` (the provider has not answered yet), `pending`, `approved`, `rejected`.
    pub status: String,
    pub rejected_reason: Option<String>,
    /// `parley` (submitted here) or `provider` (seen in a sync: edited elsewhere).
    pub source: String,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// A template version about to be submitted to the provider.
#[derive(Clone, Debug)]
pub struct TemplateSubmission {
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub parameter_format: String,
    pub components: Value,
    pub submitted_by: Option<UserId>,
}

/// What the provider answered to a submission.
#[derive(Clone, Debug)]
pub enum SubmissionResult {
    /// Accepted, with its template id and first status (`pending`, sometimes `approved`).
    Accepted { provider_template_id: Option<String>, status: String, category: Option<String> },
    /// Refused or unreachable: the version is removed (a first version takes the template with it).
    Failed,
}

pub use parley_core::template_review::ListedTemplate;

/// What a sync did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Templates the provider listed.
    pub synced: u64,
    /// New here.
    pub created: u64,
    /// Status, quality, category or components changed.
    pub changed: u64,
    /// Known here with a provider id, no longer listed: marked `deleted`.
    pub removed: u64,
}

/// A number's health as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthRecord {
    #[serde(flatten)]
    pub health: NumberHealth,
    pub messaging_limit: Option<i64>,
    /// When the number's fields were last read from the provider.
    pub checked_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

/// One field of a number's health that changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthFieldChange {
    pub channel_id: ChannelId,
    pub field: &'static str,
    pub before: Value,
    pub after: Value,
}

/// How much of the messaging limit the last 24 hours used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LimitUsage {
    /// Unique business-initiated recipients in the rolling 24 h.
    pub recipients: u64,
    /// When the first of them stops counting (a slot frees up).
    pub next_release_at: Option<Timestamp>,
    /// When none of them counts any more.
    pub clear_at: Option<Timestamp>,
}

/// A notice for owners and managers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notification {
    pub id: i64,
    /// `channel.health_changed`, `template.updated`, …
    pub kind: String,
    pub channel_id: Option<ChannelId>,
    pub message: String,
    pub payload: Value,
    pub created_at: Timestamp,
    pub read: bool,
}

/// How new conversations are assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoAssign {
    Off,
    /// In turn: the available agent given one longest ago.
    RoundRobin,
    /// The available agent with the fewest conversations not closed.
    LeastOpen,
}

impl AutoAssign {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoAssign::Off => "off",
            AutoAssign::RoundRobin => "round_robin",
            AutoAssign::LeastOpen => "least_open",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(AutoAssign::Off),
            "round_robin" => Some(AutoAssign::RoundRobin),
            "least_open" => Some(AutoAssign::LeastOpen),
            _ => None,
        }
    }
}

/// A workspace's automatic assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AssignmentSettings {
    pub mode: AutoAssign,
    /// Agents with this many conversations not closed get no more automatically.
    pub max_open: Option<i64>,
}
