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
use parley_providers::guard::{Targets, check_url};
use parley_store::NewSubscription;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, issue_token};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::routes::accounts::UserView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_bots, create_bot))
}

/// What a bot's subscription receives.
const BOT_KINDS: [&str; 2] = ["conversation.assigned", "message.received"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    name: String,
    /// Where the bot is told of its conversations (`https`, or a host on the allow-list).
    webhook_url: Option<String>,
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
    let url = match input.webhook_url.as_deref() {
        Some(raw) => Some(
            check_url(raw, Targets::AnyPublic, &state.outbound.allow)
                .map_err(|refused| ApiError::url_not_allowed(&refused, "webhook_url"))?
                .to_string(),
        ),
        None => None,
    };
    // Bots have no mailbox: an address of their own under a reserved domain, never mailed.
    let mut tag = [0u8; 8];
    rand::rng().fill_bytes(&mut tag);
    let email =
        Email::parse(&format!("bot-{}@bots.parley.invalid", hex::encode(tag))).map_err(|_| ApiError::internal())?;
    let user = parley_store::NewUser { email, name, role: Role::Agent, password_hash: None };
    let issued = issue_token(format!("bot {}", input.name.trim()));
    let now = state.clock.now();
    let (bot, _) = state.store.create_bot(auth.workspace_id, user, issued.record, now).await?;
    let (mut subscription_id, mut webhook_secret) = (None, None);
    if let Some(url) = url {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!("whsec_{}", hex::encode(bytes));
        let kinds: Vec<String> = BOT_KINDS.map(str::to_owned).to_vec();
        let sealed = state.secrets.seal(secret.as_bytes());
        let new =
            NewSubscription { url: &url, format: "parley", kinds: &kinds, sealed_secret: &sealed, created_by: bot.id };
        subscription_id = Some(state.store.create_subscription(auth.workspace_id, new, now).await?.id);
        webhook_secret = Some(secret);
        state.outgoing_wakeup.notify_one();
    }
    let created = CreatedBot { bot: bot.into(), token: issued.secret, subscription_id, webhook_secret };
    Ok((StatusCode::CREATED, Json(created)))
}
