//! Message templates: category, review status, the record synced from Meta, and the checks
//! around them (spec/meta-cloud-api.md §6.9, §7). The checks live in submodules:
//! - `draft`, `text`, `buttons`: validating a template before it is submitted to Meta;
//! - `shape`: the parameters an approved template takes, checked against a send;
//! - `params`: filling send parameters from a contact's fields;
//! - `placeholder`: scanning `{{…}}` placeholders, shared by the others.

mod buttons;
mod draft;
mod params;
mod placeholder;
mod shape;
mod text;

pub use draft::*;
pub use params::*;
pub use shape::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
        }
    }

    /// Meta writes categories in capitals; we accept any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "marketing" => Some(TemplateCategory::Marketing),
            "utility" => Some(TemplateCategory::Utility),
            "authentication" => Some(TemplateCategory::Authentication),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Pending,
    Approved,
    Rejected,
    Paused,
    Disabled,
    InAppeal,
    PendingDeletion,
    Deleted,
    Archived,
    LimitExceeded,
    Locked,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Pending => "pending",
            TemplateStatus::Approved => "approved",
            TemplateStatus::Rejected => "rejected",
            TemplateStatus::Paused => "paused",
            TemplateStatus::Disabled => "disabled",
            TemplateStatus::InAppeal => "in_appeal",
            TemplateStatus::PendingDeletion => "pending_deletion",
            TemplateStatus::Deleted => "deleted",
            TemplateStatus::Archived => "archived",
            TemplateStatus::LimitExceeded => "limit_exceeded",
            TemplateStatus::Locked => "locked",
        }
    }

    /// Meta's `APPROVED`, `IN_APPEAL`, … in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "pending" => TemplateStatus::Pending,
            "approved" => TemplateStatus::Approved,
            "rejected" => TemplateStatus::Rejected,
            "paused" => TemplateStatus::Paused,
            "disabled" => TemplateStatus::Disabled,
            "in_appeal" => TemplateStatus::InAppeal,
            "pending_deletion" => TemplateStatus::PendingDeletion,
            "deleted" => TemplateStatus::Deleted,
            "archived" => TemplateStatus::Archived,
            "limit_exceeded" => TemplateStatus::LimitExceeded,
            "locked" => TemplateStatus::Locked,
            _ => return None,
        })
    }
}

/// A template as synced from the provider (Meta's names, kept as given: `MARKETING`, `APPROVED`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Value,
    pub provider_template_id: Option<String>,
}

/// Counts `{{1}}` / `{{name}}` placeholders in a text.
pub fn count_placeholders(text: &str) -> usize {
    placeholder::placeholders(text).len()
}

#[cfg(test)]
mod tests;
