//! Making a move between providers (issue 20): what `POST /channels/{id}/move` does at once
//! and the timer does at a planned cut-over (`run_due`). The store swaps the connection in one
//! transaction; then the new account's templates are read, the old account's approved ones it
//! lacks re-created where the new provider manages templates, the webhook set where Parley can,
//! and the rest reported — the report answered and kept on the connection the move ended.

use parley_core::channel::{Channel, Provider};
use parley_core::ids::UserId;
use parley_core::template::TemplateDraft;
use parley_store::{ChannelMove, PastConnection, PlannedMove, StoreError, StoredTemplate, Viewer};
use serde::Serialize;
use utoipa::ToSchema;

use super::Actor;
use crate::error::ApiResult;
use crate::state::AppState;

/// One connection of a number: the provider and its ids, when it carried the number's
/// traffic, and how many messages came and went in that time.
#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    provider: String,
    phone_number_id: String,
    waba_id: String,
    active_from: String,
    /// The cut-over to the next connection; `null` for the current one.
    active_until: Option<String>,
    current: bool,
    messages_in: i64,
    messages_out: i64,
    /// Where this connection's provider posts (a past one's still takes late webhooks; a
    /// planned one's takes the new provider's from the plan on).
    webhook_path: String,
    /// A move planned for `active_from`, not made yet.
    planned: bool,
    /// Why a planned move could not be made at its time.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// What the move that ended this connection did and could not do (a `MoveReport`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    report: Option<serde_json::Value>,
}

impl ConnectionView {
    pub(crate) fn past(p: &PastConnection) -> Self {
        ConnectionView {
            provider: p.provider.as_str().to_owned(),
            phone_number_id: p.phone_number_id.clone(),
            waba_id: p.waba_id.clone(),
            active_from: p.active_from.to_rfc3339(),
            active_until: Some(p.active_until.to_rfc3339()),
            current: false,
            messages_in: p.messages_in,
            messages_out: p.messages_out,
            webhook_path: format!("/webhooks/{}/{}", p.provider.as_str(), p.webhook_key),
            planned: false,
            error: None,
            report: p.report.clone(),
        }
    }

    pub(crate) fn current(c: &Channel, since: parley_core::Timestamp, traffic: (i64, i64)) -> Self {
        ConnectionView {
            provider: c.provider.as_str().to_owned(),
            phone_number_id: c.phone_number_id.clone(),
            waba_id: c.waba_id.clone(),
            active_from: since.to_rfc3339(),
            active_until: None,
            current: true,
            messages_in: traffic.0,
            messages_out: traffic.1,
            webhook_path: c.webhook_path(),
            planned: false,
            error: None,
            report: None,
        }
    }

    pub(crate) fn planned(p: &PlannedMove) -> Self {
        ConnectionView {
            provider: p.to.provider.as_str().to_owned(),
            phone_number_id: p.to.phone_number_id.clone(),
            waba_id: p.to.waba_id.clone(),
            active_from: p.cutover_at.to_rfc3339(),
            active_until: None,
            current: false,
            messages_in: 0,
            messages_out: 0,
            webhook_path: format!("/webhooks/{}/{}", p.to.provider.as_str(), p.to.webhook_key),
            planned: true,
            error: p.last_error.clone(),
            report: None,
        }
    }
}

/// A template approved at the old account and not at the new one, and what the move did.
#[derive(Serialize, ToSchema)]
pub struct TemplateToResubmit {
    name: String,
    language: String,
    category: String,
    /// `submitted`: Parley created it at the new account from the old one's approved version
    /// and it awaits review there; `failed`: that was tried and refused (`error` says why);
    /// `exists`: the new account has it already, not approved (`status` there); `to_submit`:
    /// not tried (the new provider's templates are made in its console, or the call said
    /// `resubmit_templates=false`).
    outcome: &'static str,
    /// The template's status at the new account, where it has one now.
    status: Option<String>,
    error: Option<String>,
}

/// What a move did and what it could not do.
#[derive(Serialize, ToSchema)]
pub struct MoveReport {
    cutover_at: String,
    from: ConnectionView,
    to: ConnectionView,
    /// Approved at the old account, not (yet) at the new one: submit them there.
    templates_to_resubmit: Vec<TemplateToResubmit>,
    /// Why the new account's templates could not be read (the list above is then every
    /// approved template of the old account).
    templates_unchecked: Option<String>,
    /// Whether Parley set the webhook at the new provider itself (360dialog, MessageBird).
    webhook_registered: bool,
    /// The URL to set as the number's webhook at the new provider, when Parley did not.
    webhook_to_set: Option<String>,
    /// The new provider does not report the number's health (the old one did).
    health_not_reported: bool,
    /// Messages whose outcome at the old provider is unknown (not sent again).
    unknown_outcomes: i64,
    /// What is left to do by hand, in English words (the fields above say the same for a UI).
    to_do: Vec<String>,
}

/// Moves `current` to `target` now: `plan` is the planned move this makes (if any), `by` who
/// asked (templates re-created are submitted in their name).
pub async fn make_move(
    state: &AppState,
    current: &Channel,
    target: ChannelMove,
    plan: Option<i64>,
    resubmit_templates: bool,
    by: Option<UserId>,
) -> ApiResult<MoveReport> {
    let ws = current.workspace_id;
    let actor = Actor::system(ws);
    let old_templates = state.store.templates(ws, &current.waba_id).await?;
    let now = state.clock.now();
    let (moved, past) = state.store.move_channel(ws, current.id, target, plan, now).await?;
    state.webhook_channels.clear();

    // Templates: the new account's, read now; the old account's approved ones it lacks.
    let mut templates_unchecked = None;
    // Templates are kept per account: the same account at another provider is read again, so
    // the stored ones carry the new provider's ids (a Content SID, a namespace).
    let new_templates = if moved.waba_id == past.waba_id && moved.provider == past.provider {
        old_templates.clone()
    } else {
        match super::channels::sync_templates(state, &actor, &moved).await {
            Ok(_) => match state.store.templates(ws, &moved.waba_id).await {
                Ok(templates) => templates,
                Err(e) => {
                    templates_unchecked = Some(e.to_string());
                    Vec::new()
                }
            },
            Err(e) => {
                templates_unchecked = Some(e.message);
                Vec::new()
            }
        }
    };
    let missing: Vec<&StoredTemplate> = old_templates
        .iter()
        .filter(|t| t.status == "approved")
        .filter(|t| {
            !new_templates.iter().any(|n| n.name == t.name && n.language == t.language && n.status == "approved")
        })
        .collect();
    let resubmit = resubmit_templates && moved.provider.manages_templates() && templates_unchecked.is_none();
    let mut templates_to_resubmit = Vec::with_capacity(missing.len());
    for t in missing {
        let there = new_templates.iter().find(|n| n.name == t.name && n.language == t.language);
        let (outcome, status, error) = match there {
            Some(n) => ("exists", Some(n.status.clone()), None),
            None if !resubmit => ("to_submit", None, None),
            None => match resubmit_template(state, &moved, t, by).await {
                Ok(created) => ("submitted", Some(created.status), None),
                Err(e) => ("failed", None, Some(e.message)),
            },
        };
        templates_to_resubmit.push(TemplateToResubmit {
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.clone(),
            outcome,
            status,
            error,
        });
    }

    let mut to_do = Vec::new();
    let webhook_url = format!("{}{}", state.public_url.trim_end_matches('/'), moved.webhook_path());
    let webhook_registered = match moved.provider {
        Provider::Dialog360 | Provider::MessageBird => {
            match crate::routes::numbers::register_at_provider(state, &moved).await {
                Ok(_) => true,
                Err(e) => {
                    to_do.push(format!(
                        "set the webhook at {}: {} (POST /api/v1/channels/{}/webhook/register tries again)",
                        moved.provider.as_str(),
                        e.message,
                        moved.id
                    ));
                    false
                }
            }
        }
        _ => {
            let where_ =
                if moved.provider == Provider::Meta { "your Meta app's dashboard" } else { "Twilio's console" };
            to_do.push(format!("in {where_}, set the number's webhook to {webhook_url}"));
            false
        }
    };
    let submitted = templates_to_resubmit.iter().filter(|t| t.outcome == "submitted").count();
    if submitted > 0 {
        to_do.push(format!("{submitted} templates were submitted at the new account: they are sent once approved"));
    }
    let by_hand = templates_to_resubmit.iter().filter(|t| t.outcome == "failed" || t.outcome == "to_submit").count();
    if by_hand > 0 {
        let how = if moved.provider.manages_templates() {
            "create them again from the templates page or the API: they go to review at the new account"
        } else {
            "submit them in the provider's console, then sync"
        };
        to_do.push(format!("{by_hand} approved templates are not at the new account: {how}"));
    }
    let health_not_reported = !moved.provider.graph_api() && past.provider.graph_api();
    if health_not_reported {
        to_do.push(format!(
            "{} does not report the number's health to Parley: the health history stays, new changes will not come",
            moved.provider.as_str()
        ));
    }
    // The move is made: a failure to read or keep what follows is logged, never answered as
    // the move's failure.
    let counts = state.store.outbox_counts(ws, moved.id).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot count the moved number's unknown outcomes");
        Default::default()
    });
    if counts.unknown > 0 {
        to_do.push(format!(
            "{} messages have an unknown outcome at {}: they are not sent again",
            counts.unknown,
            past.provider.as_str()
        ));
    }
    let report = MoveReport {
        cutover_at: now.to_rfc3339(),
        from: ConnectionView::past(&past),
        to: ConnectionView::current(&moved, now, (0, 0)),
        templates_to_resubmit,
        templates_unchecked,
        webhook_to_set: (!webhook_registered).then_some(webhook_url),
        webhook_registered,
        health_not_reported,
        unknown_outcomes: counts.unknown,
        to_do,
    };
    // Kept on the connection the move ended: a planned move's owner reads it there.
    match serde_json::to_value(&report) {
        Ok(kept) => {
            if let Err(e) = state.store.set_move_report(ws, past.id, &kept).await {
                tracing::warn!(error = %e, "a move report could not be kept");
            }
        }
        Err(e) => tracing::warn!(error = %e, "a move report could not be kept"),
    }
    Ok(report)
}

/// Creates the old account's approved version of `old` at the moved channel's account and
/// submits it for review, after the same checks as a template made by hand.
async fn resubmit_template(
    state: &AppState,
    moved: &Channel,
    old: &StoredTemplate,
    by: Option<UserId>,
) -> ApiResult<StoredTemplate> {
    let components = old.components.as_array().cloned().unwrap_or_default();
    let draft = TemplateDraft {
        name: old.name.clone(),
        language: old.language.clone(),
        category: old.category.clone(),
        parameter_format: Some(old.parameter_format.clone()),
        components,
        message_send_ttl_seconds: None,
    };
    let valid = draft.validate()?;
    crate::routes::templates::create_and_submit(state, moved, &valid, by).await
}

/// The channel as the connection with this webhook key has it: the channel's own, a past one
/// (for `LATE_WEBHOOKS_SECS` after its cut-over) or a planned one. Webhooks are routed, and
/// their files fetched, through it.
pub async fn channel_by_connection_key(state: &AppState, key: &str) -> Result<Option<Channel>, StoreError> {
    if let Some(current) = state.store.channel_by_webhook_key(key).await? {
        return Ok(Some(current));
    }
    if let Some(past) = state.store.channel_by_past_webhook_key(key, state.clock.now()).await? {
        return Ok(Some(past));
    }
    state.store.channel_by_planned_webhook_key(key).await
}

/// Makes the planned moves whose cut-over came (the timer's pass). A move that fails is kept
/// with its reason and not tried again; one another server made meanwhile is skipped; the plan
/// of a number deleted meanwhile is dropped.
pub async fn run_due(state: &AppState) {
    let due = match state.store.due_planned_moves(state.clock.now(), 10).await {
        Ok(due) => due,
        Err(e) => return tracing::warn!(error = %e, "cannot read the planned moves"),
    };
    for plan in due {
        let (ws, channel) = (plan.workspace_id, plan.channel_id);
        let current = match state.store.channel(ws, channel, Viewer::All).await {
            Ok(current) if current.deleted_at.is_none() => current,
            Ok(_) | Err(parley_store::StoreError::NotFound) => {
                tracing::info!(channel = channel.get(), "a planned move of a deleted number is dropped");
                if let Err(e) = state.store.cancel_planned_move(ws, channel).await {
                    tracing::warn!(error = %e, "cannot drop a planned move");
                }
                continue;
            }
            Err(e) => return tracing::warn!(error = %e, "cannot read a planned move's number"),
        };
        let id = plan.id;
        let made = make_move(state, &current, plan.to, Some(id), plan.resubmit_templates, plan.planned_by).await;
        let error = match made {
            Ok(report) => {
                tracing::info!(channel = channel.get(), to = report.to.provider, "planned move made");
                continue;
            }
            Err(e) => e,
        };
        // Not found: another server made this plan, or it was cancelled, or it failed for
        // another reason while still there (then it is recorded like any failure).
        let still_planned = state.store.planned_move(ws, channel).await.ok().flatten().is_some_and(|p| p.id == id);
        if error.code == "not_found" && !still_planned {
            continue;
        }
        tracing::warn!(channel = channel.get(), error = %error.message, "a planned move failed");
        if let Err(e) = state.store.planned_move_failed(id, &error.message).await {
            tracing::warn!(error = %e, "cannot record a planned move's failure");
        }
    }
}
