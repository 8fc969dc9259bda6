//! `/api/v1/channels`: connecting WhatsApp numbers (owners and managers; agents list and read the
//! channels they may see), and the members who see a private channel. Credentials are sealed
//! before they reach the store and never come back out of the API. A channel's endpoint (its
//! Graph API base URL) passes the outbound guard, and only an owner who enters the credentials
//! again may move it: otherwise a manager could send the stored token to a host of their choice.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::Invalid;
use parley_core::account::{Role, check_name};
use parley_core::channel::{
    Channel, ChannelId, DEFAULT_THROUGHPUT, Provider, Visibility, check_base_url, check_secret, check_throughput,
};
use parley_core::ids::UserId;
use parley_store::{ChannelPatch, NewChannel, Viewer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connections::{ConnectionInput, allowed_base_url, new_webhook_key};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(channel_outbox))
        .routes(routes!(get_members, set_members))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// `meta` (WhatsApp Cloud API), `360dialog`, `twilio` or `messagebird` (what each carries:
    /// docs/providers.md).
    provider: String,
    name: String,
    /// Meta and 360dialog: the phone number id. Twilio: the WhatsApp sender's number, digits
    /// only (`14155238886`). MessageBird: the WhatsApp channel's id (32 hex digits).
    phone_number_id: String,
    /// Meta, 360dialog and MessageBird: the WhatsApp Business Account id. Twilio: the Account
    /// SID (`AC…`).
    waba_id: String,
    /// The number as WhatsApp shows it, e.g. `15550001111`.
    display_phone_number: String,
    /// Meta: the access token. 360dialog: the number's API key (`D360-API-KEY`). Twilio: the
    /// Auth Token. MessageBird: the access key.
    access_token: String,
    /// Meta: verifies `X-Hub-Signature-256` on every webhook (required). 360dialog: the partner
    /// secret of `x-360dialog-signature`, when the partner signs webhooks (optional). Twilio:
    /// the key `X-Twilio-Signature` is made with, when not the Auth Token (a SharedKey secret).
    /// MessageBird: the signing key its webhooks are signed with (required).
    app_secret: Option<String>,
    /// Meta: answers the `hub.challenge` handshake (required). Twilio, 360dialog and MessageBird have none
    /// (for 360dialog Parley makes its own webhook token: `POST /channels/{id}/webhook/register`).
    verify_token: Option<String>,
    /// Default: Meta's Graph API (`https://graph.facebook.com/v24.0`), 360dialog's
    /// (`https://waba-v2.360dialog.io`) or Twilio's REST API (`https://api.twilio.com`).
    graph_base_url: Option<String>,
    /// `shared` (default) or `private`.
    visibility: Option<String>,
    /// Messages per second, 1 to 1000; 80 by default.
    throughput: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatchInput {
    name: Option<String>,
    display_phone_number: Option<String>,
    graph_base_url: Option<String>,
    visibility: Option<String>,
    throughput: Option<i64>,
    /// Unique business-initiated recipients per rolling 24 h; `null`: unlimited. Normally set
    /// from Meta's webhooks and number fields.
    #[serde(default, deserialize_with = "parley_core::serde_util::double_option")]
    #[schema(value_type = Option<i64>)]
    messaging_limit: Option<Option<i64>>,
    /// Rotating a credential replaces it; absent ones are kept.
    access_token: Option<String>,
    app_secret: Option<String>,
    verify_token: Option<String>,
}

/// A channel as the API shows it: no credentials, ever.
#[derive(Serialize, ToSchema)]
pub struct ChannelView {
    id: i64,
    provider: String,
    name: String,
    phone_number_id: String,
    waba_id: String,
    display_phone_number: String,
    graph_base_url: String,
    visibility: String,
    throughput: i64,
    /// Unique business-initiated recipients per rolling 24 h (`null`: unlimited).
    messaging_limit: Option<i64>,
    /// The path to configure as the webhook callback at the provider (prefix your public URL).
    webhook_path: String,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        ChannelView {
            id: c.id.get(),
            provider: c.provider.as_str().to_owned(),
            webhook_path: c.webhook_path(),
            name: c.name,
            phone_number_id: c.phone_number_id,
            waba_id: c.waba_id,
            display_phone_number: c.display_phone_number,
            graph_base_url: c.graph_base_url,
            visibility: c.visibility.as_str().to_owned(),
            throughput: c.throughput,
            messaging_limit: c.messaging_limit,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            deleted_at: c.deleted_at.map(|d| d.to_rfc3339()),
        }
    }
}

fn check_display_number(value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    let good = !v.is_empty()
        && v.len() <= 32
        && v.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    if good {
        Ok(v.to_owned())
    } else {
        Err(Invalid::request("display_phone_number", "must be a phone number (digits, +, spaces, dashes)"))
    }
}

fn check_visibility(value: &str) -> Result<Visibility, Invalid> {
    Visibility::parse(value).ok_or_else(|| Invalid::request("visibility", "must be shared or private"))
}

/// Moving a channel's endpoint sends its token to the new host: only an owner may, and only
/// with the access token and app secret entered again in the same request (so the stored ones
/// never follow the move).
fn check_endpoint_change(role: Role, access_token_given: bool, app_secret_given: bool) -> ApiResult<()> {
    if role != Role::Owner {
        return Err(ApiError::forbidden("only owners may change a channel's graph_base_url"));
    }
    for (given, field) in [(access_token_given, "access_token"), (app_secret_given, "app_secret")] {
        if !given {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "credentials_required",
                format!("changing graph_base_url needs the channel's {field} again in the same request"),
            )
            .with_field(field));
        }
    }
    Ok(())
}

/// Connect a WhatsApp number (owners and managers).
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = ChannelInput,
    responses((status = 201, body = ChannelView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the number is already connected (`identifier_taken`)")),
    security(("bearer" = [])))]
async fn create_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<ChannelInput>,
) -> ApiResult<(StatusCode, Json<ChannelView>)> {
    auth.require_admin()?;
    let connection = ConnectionInput {
        provider: input.provider.clone(),
        phone_number_id: input.phone_number_id.clone(),
        waba_id: input.waba_id.clone(),
        access_token: input.access_token.clone(),
        app_secret: input.app_secret.clone(),
        verify_token: input.verify_token.clone(),
        graph_base_url: input.graph_base_url.clone(),
    }
    .check(&state)?;
    let channel = NewChannel {
        provider: connection.provider,
        name: check_name("name", &input.name)?,
        phone_number_id: connection.phone_number_id,
        waba_id: connection.waba_id,
        display_phone_number: check_display_number(&input.display_phone_number)?,
        graph_base_url: connection.graph_base_url,
        sealed_secrets: state.seal_secrets(&connection.secrets),
        webhook_key: new_webhook_key(),
        visibility: input.visibility.as_deref().map(check_visibility).transpose()?.unwrap_or_default(),
        throughput: check_throughput(input.throughput.unwrap_or(DEFAULT_THROUGHPUT))?,
    };
    let created = state.store.create_channel(auth.workspace_id, channel, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// List connected channels: every one for owners and managers, those an agent may see for agents
/// (shared ones and the private ones they are a member of).
#[utoipa::path(get, path = "/channels", tag = "channels", responses((status = 200, body = Vec<ChannelView>)),
    security(("bearer" = [])))]
async fn list_channels(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<ChannelView>>> {
    Ok(Json(state.store.channels(auth.workspace_id, auth.viewer()).await?.into_iter().map(ChannelView::from).collect()))
}

/// Get a channel, deleted ones included (agents: one they may see).
#[utoipa::path(get, path = "/channels/{id}", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<ChannelView>> {
    Ok(Json(state.store.channel(auth.workspace_id, ChannelId(id), auth.viewer()).await?.into()))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersInput {
    /// Users who see the channel when it is private (owners and managers see every channel).
    user_ids: Vec<i64>,
}

/// The channel's members (owners and managers).
#[utoipa::path(get, path = "/channels/{id}/members", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = MembersInput), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_members(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<MembersInput>> {
    auth.require_admin()?;
    let members = state.store.channel_members(auth.workspace_id, ChannelId(id)).await?;
    Ok(Json(MembersInput { user_ids: members.into_iter().map(|u| u.get()).collect() }))
}

/// Replace the channel's members (owners and managers): who sees it when it is private.
#[utoipa::path(put, path = "/channels/{id}/members", tag = "channels", params(("id" = i64, Path)),
    request_body = MembersInput,
    responses((status = 200, body = MembersInput), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a user not of this workspace (`unknown_user`)")),
    security(("bearer" = [])))]
async fn set_members(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<MembersInput>,
) -> ApiResult<Json<MembersInput>> {
    auth.require_admin()?;
    if input.user_ids.len() > 10_000 {
        return Err(ApiError::bad_request("at most 10,000 members").with_field("user_ids"));
    }
    let users: Vec<UserId> = input.user_ids.iter().map(|id| UserId(*id)).collect();
    let now = state.clock.now();
    let members = state.store.set_channel_members(auth.workspace_id, ChannelId(id), &users, now).await?;
    Ok(Json(MembersInput { user_ids: members.into_iter().map(|u| u.get()).collect() }))
}

/// Change a channel's settings or rotate its credentials (owners and managers). Changing
/// `graph_base_url` is for owners only, with `access_token` and `app_secret` in the same request.
#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", params(("id" = i64, Path)), request_body = ChannelPatchInput,
    responses((status = 200, body = ChannelView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`url_not_allowed`: the base URL does not pass the outbound guard; \
            `credentials_required`: a new base URL without the credentials")),
    security(("bearer" = [])))]
async fn update_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<ChannelPatchInput>,
) -> ApiResult<Json<ChannelView>> {
    auth.require_admin()?;
    let id = ChannelId(id);
    let current = state.store.channel(auth.workspace_id, id, Viewer::All).await?;
    let graph_base_url = match input.graph_base_url.as_deref().map(check_base_url).transpose()? {
        Some(url) if url != current.graph_base_url => {
            // 360dialog's partner secret is optional (and never sent anywhere): the key is enough.
            let app_secret_given = input.app_secret.is_some() || current.provider == Provider::Dialog360;
            check_endpoint_change(auth.role, input.access_token.is_some(), app_secret_given)?;
            Some(allowed_base_url(&state, current.provider, &url)?)
        }
        // The same URL again moves nothing.
        _ => None,
    };
    let rotating = input.access_token.is_some() || input.app_secret.is_some() || input.verify_token.is_some();
    let sealed_secrets = if rotating {
        let mut secrets = state.channel_secrets(&current)?;
        if current.provider != Provider::Meta && input.verify_token.is_some() {
            return Err(Invalid::request("verify_token", "only Meta has a webhook handshake: leave it out").into());
        }
        if let Some(t) = &input.access_token {
            let token = check_secret("access_token", t)?;
            // Twilio signs webhooks with the Auth Token unless a SharedKey was given: a new
            // Auth Token is the new signing key too (else every webhook would be refused).
            if current.provider == Provider::Twilio
                && input.app_secret.is_none()
                && secrets.app_secret == secrets.access_token
            {
                secrets.app_secret = token.clone();
            }
            secrets.access_token = token;
        }
        if let Some(t) = &input.app_secret {
            if current.provider != Provider::Meta && auth.role != Role::Owner {
                // Twilio's and 360dialog's signing keys decide which posts are believed, media
                // links included: an owner's to change, like the channel's endpoint.
                return Err(ApiError::forbidden("only owners may change this number's signing key"));
            }
            secrets.app_secret = check_secret("app_secret", t)?;
        }
        if let Some(t) = &input.verify_token {
            secrets.verify_token = check_secret("verify_token", t)?;
        }
        Some(state.seal_secrets(&secrets))
    } else {
        None
    };
    let patch = ChannelPatch {
        name: input.name.as_deref().map(|n| check_name("name", n)).transpose()?,
        display_phone_number: input.display_phone_number.as_deref().map(check_display_number).transpose()?,
        graph_base_url,
        sealed_secrets,
        visibility: input.visibility.as_deref().map(check_visibility).transpose()?,
        throughput: input.throughput.map(check_throughput).transpose()?,
        messaging_limit: match input.messaging_limit {
            Some(Some(l)) if l < 0 => {
                return Err(ApiError::bad_request("the limit is not negative").with_field("messaging_limit"));
            }
            other => other,
        },
    };
    let updated = state.store.update_channel(auth.workspace_id, id, patch, state.clock.now()).await?;
    state.webhook_channels.clear();
    Ok(Json(updated.into()))
}

/// Disconnect a channel: its webhook stops; its conversations and messages stay readable.
#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_channel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    state.store.delete_channel(auth.workspace_id, ChannelId(id), state.clock.now()).await?;
    state.webhook_channels.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// What the channel's outbox holds: messages waiting for their turn, in flight, failed, or with
/// an unknown outcome (owners and managers). Sent messages are not counted.
#[utoipa::path(get, path = "/channels/{id}/outbox", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = OutboxCountsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn channel_outbox(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<OutboxCountsView>> {
    auth.require_admin()?;
    let channel = state.store.channel(auth.workspace_id, ChannelId(id), Viewer::All).await?;
    let c = state.store.outbox_counts(auth.workspace_id, channel.id).await?;
    Ok(Json(OutboxCountsView { queued: c.queued, in_flight: c.in_flight, failed: c.failed, unknown: c.unknown }))
}

#[derive(Serialize, ToSchema)]
pub struct OutboxCountsView {
    /// Waiting for their turn (retries not yet due included).
    queued: i64,
    /// Claimed by the dispatcher or being sent.
    in_flight: i64,
    failed: i64,
    /// Possibly sent: an agent checks and retries or not.
    unknown: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_owner_with_both_credentials_may_move_an_endpoint() {
        assert!(check_endpoint_change(Role::Owner, true, true).is_ok());
        for role in [Role::Manager, Role::Agent] {
            let e = check_endpoint_change(role, true, true).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, "forbidden"));
        }
        let e = check_endpoint_change(Role::Owner, false, true).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("credentials_required", Some("access_token")));
        let e = check_endpoint_change(Role::Owner, true, false).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("credentials_required", Some("app_secret")));
    }
}
