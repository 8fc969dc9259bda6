//! Moving a number to another provider (issue 20; the Pipedrive seed's "migrate my number", a
//! BSP change): `POST /channels/{id}/move` (owners) and the number's connections on one
//! timeline, `GET /channels/{id}/connections`.
//!
//! Decisions, also in docs/providers.md: the cut-over is the moment of the call (a move planned
//! for later is made then). The channel keeps its id, so its contacts, conversations, history,
//! health history and the templates of an unchanged account stay with it; sends from then on
//! (queued ones included) go through the new provider; the old connection keeps routing its
//! provider's late statuses and messages into the same threads for 30 days; what could not
//! move is reported (templates to resubmit at the new account, a webhook to set by hand, what
//! the new provider does not report).

use axum::Json;
use axum::extract::State;
use parley_core::account::Role;
use parley_core::channel::{Channel, ChannelId, Provider};
use parley_store::{ChannelMove, PastConnection, Viewer};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connections::{ConnectionInput, new_webhook_key};
use crate::actions::{self, live_channel};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(move_channel)).routes(routes!(connections))
}

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
    /// Where this connection's provider posts (a past one's still takes late webhooks).
    webhook_path: String,
}

impl ConnectionView {
    fn past(p: &PastConnection) -> Self {
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
        }
    }

    fn current(c: &Channel, since: parley_core::Timestamp, traffic: (i64, i64)) -> Self {
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
        }
    }
}

/// A template approved at the old account and not at the new one.
#[derive(Serialize, ToSchema)]
pub struct TemplateToResubmit {
    name: String,
    language: String,
    category: String,
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

/// Move the number to another provider (owners): from now on it sends through the new
/// connection; its conversations, contacts and history stay; the old provider's late webhooks
/// are still taken for 30 days. Answers what could not move.
#[utoipa::path(post, path = "/channels/{id}/move", tag = "channels", params(("id" = i64, Path)),
    request_body = ConnectionInput,
    responses((status = 200, body = MoveReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`identifier_taken`: the new \
            number is connected already"),
        (status = 422, body = ErrorBody, description = "`url_not_allowed`, or `nothing_to_move`: the same provider and ids")),
    security(("bearer" = [])))]
async fn move_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> ApiResult<Json<MoveReport>> {
    if auth.role != Role::Owner {
        return Err(ApiError::forbidden("only owners may move a number to another provider"));
    }
    let actor = auth.actor();
    let current = live_channel(&state, &actor, ChannelId(id)).await?;
    let to = input.check(&state)?;
    if to.provider == current.provider && to.phone_number_id == current.phone_number_id && to.waba_id == current.waba_id
    {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_move",
            "the number is connected through this provider with these ids already: change its credentials with PATCH",
        ));
    }
    let ws = auth.workspace_id;
    let old_templates = state.store.templates(ws, &current.waba_id).await?;
    let now = state.clock.now();
    let target = ChannelMove {
        provider: to.provider,
        phone_number_id: to.phone_number_id,
        waba_id: to.waba_id,
        graph_base_url: to.graph_base_url,
        sealed_secrets: state.seal_secrets(&to.secrets),
        webhook_key: new_webhook_key(),
    };
    let (moved, past) = state.store.move_channel(ws, current.id, target, now).await?;
    state.webhook_channels.clear();

    // Templates: the new account's, read now; the old account's approved ones it lacks.
    let mut templates_unchecked = None;
    // Templates are kept per account: the same account at another provider is read again, so
    // the stored ones carry the new provider's ids (a Content SID, a namespace).
    let new_templates = if moved.waba_id == past.waba_id && moved.provider == past.provider {
        old_templates.clone()
    } else {
        match actions::channels::sync_templates(&state, &actor, &moved).await {
            Ok(_) => state.store.templates(ws, &moved.waba_id).await?,
            Err(e) => {
                templates_unchecked = Some(e.message);
                Vec::new()
            }
        }
    };
    let templates_to_resubmit: Vec<TemplateToResubmit> = old_templates
        .iter()
        .filter(|t| t.status == "approved")
        .filter(|t| {
            !new_templates.iter().any(|n| n.name == t.name && n.language == t.language && n.status == "approved")
        })
        .map(|t| TemplateToResubmit {
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.clone(),
        })
        .collect();

    let mut to_do = Vec::new();
    let webhook_url = format!("{}{}", state.public_url.trim_end_matches('/'), moved.webhook_path());
    let webhook_registered = match moved.provider {
        Provider::Dialog360 | Provider::MessageBird => match super::numbers::register_at_provider(&state, &moved).await
        {
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
        },
        _ => {
            let where_ =
                if moved.provider == Provider::Meta { "your Meta app's dashboard" } else { "Twilio's console" };
            to_do.push(format!("in {where_}, set the number's webhook to {webhook_url}"));
            false
        }
    };
    if !templates_to_resubmit.is_empty() {
        let how = if moved.provider.manages_templates() {
            "create them again from the templates page or the API: they go to review at the new account"
        } else {
            "submit them in the provider's console, then sync"
        };
        to_do.push(format!(
            "{} approved templates are not approved at the new account: {how}",
            templates_to_resubmit.len()
        ));
    }
    let health_not_reported = !moved.provider.graph_api() && past.provider.graph_api();
    if health_not_reported {
        to_do.push(format!(
            "{} does not report the number's health to Parley: the health history stays, new changes will not come",
            moved.provider.as_str()
        ));
    }
    let counts = state.store.outbox_counts(ws, moved.id).await?;
    if counts.unknown > 0 {
        to_do.push(format!(
            "{} messages have an unknown outcome at {}: they are not sent again",
            counts.unknown,
            past.provider.as_str()
        ));
    }
    Ok(Json(MoveReport {
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
    }))
}

/// The number's connections, oldest first (owners and managers): each provider's time and
/// traffic, on one timeline.
#[utoipa::path(get, path = "/channels/{id}/connections", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ConnectionView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn connections(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    auth.require_admin()?;
    let channel = state.store.channel(auth.workspace_id, ChannelId(id), Viewer::All).await?;
    let past = state.store.past_connections(auth.workspace_id, channel.id).await?;
    let since = past.last().map_or(channel.created_at, |p| p.active_until);
    let traffic = state.store.channel_traffic_since(auth.workspace_id, channel.id, since).await?;
    let mut out: Vec<ConnectionView> = past.iter().map(ConnectionView::past).collect();
    out.push(ConnectionView::current(&channel, since, traffic));
    Ok(Json(out))
}
