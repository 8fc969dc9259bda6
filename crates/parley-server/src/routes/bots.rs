//! `/api/v1/bots`: bots as teammates (owners and managers make them). A bot is a user of the
//! agent role that never logs in: assignable like an agent (never by automatic assignment), it
//! acts through its own API token, shown once, with every rule an agent's sends obey (outside the
//! window, only approved templates). With `webhook_url`, a webhook subscription made by the bot
//! posts `conversation.assigned` and `message.received` of the conversations assigned to it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::Email;
use parley_core::account::{Role, check_name};
use parley_core::bots::{DEFAULT_HANDOVER_KEYWORDS, HandoverSettings};
use parley_core::ids::UserId;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, issue_token};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::routes::accounts::UserView;
use crate::routes::subscriptions::{checked_url, subscribe};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_bots, create_bot)).routes(routes!(get_handover, set_handover))
}

/// A bot's hand-over settings.
#[utoipa::path(get, path = "/bots/{id}/handover", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_handover(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<HandoverSettings>> {
    auth.require_admin()?;
    Ok(Json(state.store.bot_settings(auth.workspace_id, UserId(id)).await?))
}

/// Change when a bot hands over (fields left out take their defaults).
#[utoipa::path(put, path = "/bots/{id}/handover", tag = "accounts", params(("id" = i64, Path)),
    request_body = HandoverInput,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_handover(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<HandoverInput>,
) -> ApiResult<Json<HandoverSettings>> {
    auth.require_admin()?;
    let settings = handover_settings(input)?;
    state.store.set_bot_settings(auth.workspace_id, UserId(id), &settings).await?;
    Ok(Json(settings))
}

/// What a bot's subscription receives.
const BOT_KINDS: [&str; 2] = ["conversation.assigned", "message.received"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    name: String,
    /// Where the bot is told of its conversations (`https`, or a host on the allow-list).
    webhook_url: Option<String>,
    /// See `PUT /bots/{id}/handover`.
    handover_keywords: Option<Vec<String>>,
    silence_seconds: Option<i64>,
    max_turns: Option<i64>,
}

/// When the bot hands a conversation over to the team (a note says why, then the conversation
/// goes back to the queue).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct HandoverInput {
    /// Words with which a customer asks for a person (whole words, any case); default: English,
    /// French and Vietnamese ones ("agent", "humain", "người thật", …); `[]` turns it off.
    handover_keywords: Option<Vec<String>>,
    /// Hand over when a customer's message waits this long for the bot (seconds).
    silence_seconds: Option<i64>,
    /// Hand over when the customer writes again after this many answers from the bot.
    max_turns: Option<i64>,
}

fn handover_settings(input: HandoverInput) -> ApiResult<HandoverSettings> {
    let keywords = match input.handover_keywords {
        None => DEFAULT_HANDOVER_KEYWORDS.iter().map(|k| (*k).to_owned()).collect(),
        Some(list) => {
            if list.len() > 100 || list.iter().any(|k| k.trim().is_empty() || k.chars().count() > 64) {
                return Err(
                    ApiError::bad_request("up to 100 keywords of 1 to 64 characters").with_field("handover_keywords")
                );
            }
            list.into_iter().map(|k| k.trim().to_owned()).collect()
        }
    };
    let positive = |v: Option<i64>, field: &str| match v {
        Some(n) if !(1..=30 * 24 * 3600).contains(&n) => {
            Err(ApiError::bad_request(format!("{field} is between 1 and 2,592,000")).with_field(field))
        }
        other => Ok(other),
    };
    Ok(HandoverSettings {
        keywords,
        silence_seconds: positive(input.silence_seconds, "silence_seconds")?,
        max_turns: positive(input.max_turns, "max_turns")?,
    })
}

#[derive(Serialize, ToSchema)]
pub struct CreatedBot {
    bot: UserView,
    /// The bot's API token, shown this once.
    token: String,
    /// The bot's webhook subscription and its signing secret (shown this once), when a
    /// `webhook_url` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

/// The workspace's bots.
#[utoipa::path(get, path = "/bots", tag = "accounts",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_bots(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<UserView>>> {
    auth.require_admin()?;
    let users = state.store.users(auth.workspace_id).await?;
    Ok(Json(users.into_iter().filter(|u| u.bot).map(UserView::from).collect()))
}

/// Make a bot: a user that is assigned conversations and answers through the API.
#[utoipa::path(post, path = "/bots", tag = "accounts", request_body = BotInput,
    responses((status = 201, body = CreatedBot), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_name`, `url_not_allowed`")),
    security(("bearer" = [])))]
async fn create_bot(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<BotInput>,
) -> ApiResult<(StatusCode, Json<CreatedBot>)> {
    auth.require_admin()?;
    let name = check_name("name", &input.name)?;
    let settings = handover_settings(HandoverInput {
        handover_keywords: input.handover_keywords,
        silence_seconds: input.silence_seconds,
        max_turns: input.max_turns,
    })?;
    let url = input.webhook_url.as_deref().map(|raw| checked_url(&state, raw, "webhook_url")).transpose()?;
    // Bots have no mailbox: an address of their own under a reserved domain, never mailed.
    let mut tag = [0u8; 8];
    rand::rng().fill_bytes(&mut tag);
    let email =
        Email::parse(&format!("bot-{}@bots.parley.invalid", hex::encode(tag))).map_err(|_| ApiError::internal())?;
    let user = parley_store::NewUser { email, name, role: Role::Agent, password_hash: None };
    let issued = issue_token(format!("bot {}", input.name.trim()));
    let now = state.clock.now();
    let (bot, _) = state.store.create_bot(auth.workspace_id, user, issued.record, now).await?;
    state.store.set_bot_settings(auth.workspace_id, bot.id, &settings).await?;
    let (mut subscription_id, mut webhook_secret) = (None, None);
    if let Some(url) = url {
        let kinds: Vec<String> = BOT_KINDS.map(str::to_owned).to_vec();
        let (subscription, secret) = subscribe(&state, auth.workspace_id, &url, &kinds, bot.id).await?;
        subscription_id = Some(subscription.id);
        webhook_secret = Some(secret);
    }
    let created = CreatedBot { bot: bot.into(), token: issued.secret, subscription_id, webhook_secret };
    Ok((StatusCode::CREATED, Json(created)))
}
