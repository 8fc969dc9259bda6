//! `/api/v1/me`, `/api/v1/workspace`, `/api/v1/tokens`: who is calling, the workspace's
//! settings and API tokens (users are in `users.rs`). Creating tokens and changing settings is
//! for owners and managers; a manager cannot act for an owner.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::account::{Role, User, Workspace, check_name, check_region};
use parley_core::ids::{TokenId, UserId};
use parley_store::{ApiToken, WorkspacePatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, issue_token};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(get_workspace, update_workspace))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: i64,
    email: String,
    name: String,
    #[schema(value_type = String, example = "agent")]
    role: Role,
    /// The web inbox's language (`en`, `fr`, `vi`); `null`: the browser's.
    locale: Option<String>,
    created_at: String,
    /// `false` once deactivated: no login, no token, no new conversations.
    active: bool,
    deactivated_at: Option<String>,
    /// A bot: assignable, acts through its API token, never logs in (`POST /bots`).
    bot: bool,
    /// Mailed when a teammate mentions them in a note (needs the server's `[mail]`).
    mail_mentions: bool,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id.get(),
            email: u.email.into_string(),
            name: u.name,
            role: u.role,
            locale: u.locale,
            created_at: u.created_at.to_rfc3339(),
            active: u.deactivated_at.is_none(),
            deactivated_at: u.deactivated_at.map(|t| t.to_rfc3339()),
            bot: u.bot,
            mail_mentions: u.mail_mentions,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    id: i64,
    name: String,
    /// Region used to read national-format phone numbers; `null` when numbers need a country code.
    default_region: Option<String>,
    /// Templates need a recorded opt-in (or an inbound message) first.
    require_opt_in: bool,
    created_at: String,
}

impl From<Workspace> for WorkspaceView {
    fn from(w: Workspace) -> Self {
        WorkspaceView {
            id: w.id.get(),
            name: w.name,
            default_region: w.default_region,
            require_opt_in: w.require_opt_in,
            created_at: w.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    user: UserView,
    workspace: WorkspaceView,
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/me", tag = "accounts", responses((status = 200, body = MeView), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn me(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<MeView>> {
    let user = state.store.user(auth.workspace_id, auth.user_id).await?;
    let workspace = state.store.workspace(auth.workspace_id).await?;
    Ok(Json(MeView { user: user.into(), workspace: workspace.into() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// `en`, `fr`, `vi`, or `null` for the browser's language.
    #[serde(default, deserialize_with = "parley_core::serde_util::double_option")]
    #[schema(value_type = Option<String>)]
    locale: Option<Option<String>>,
    /// Mail me when a teammate mentions me in a note; `409 mail_not_configured` when the
    /// server has no mail relay.
    mail_mentions: Option<bool>,
}

/// Change your own settings: the web inbox's language, mentions by mail.
#[utoipa::path(patch, path = "/me", tag = "accounts", request_body = MePatch,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_me(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<MePatch>,
) -> ApiResult<Json<UserView>> {
    if input.mail_mentions == Some(true) && state.mailer.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "mail_not_configured",
            "mail is not set up on this server ([mail])",
        )
        .with_field("mail_mentions"));
    }
    let mut user = state.store.user(auth.workspace_id, auth.user_id).await?;
    if let Some(on) = input.mail_mentions {
        user = state.store.set_mail_mentions(auth.workspace_id, auth.user_id, on).await?;
    }
    if let Some(locale) = input.locale {
        let locale = match locale.as_deref() {
            None => None,
            Some(l) => Some(
                crate::web::i18n::Locale::parse(l)
                    .ok_or_else(|| ApiError::bad_request("locale is en, fr or vi").with_field("locale"))?,
            ),
        };
        user = state.store.set_locale(auth.workspace_id, auth.user_id, locale.map(|l| l.as_str())).await?;
    }
    Ok(Json(user.into()))
}

/// The workspace's settings.
#[utoipa::path(get, path = "/workspace", tag = "accounts", responses((status = 200, body = WorkspaceView)),
    security(("bearer" = [])))]
async fn get_workspace(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<WorkspaceView>> {
    Ok(Json(state.store.workspace(auth.workspace_id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceInput {
    name: Option<String>,
    /// Two-letter region (`FR`, `VN`) for national-format numbers; `null` turns it off.
    #[serde(default, deserialize_with = "parley_core::serde_util::double_option")]
    #[schema(value_type = Option<String>)]
    default_region: Option<Option<String>>,
    /// Templates need a recorded opt-in (or an inbound message) first; on by default.
    require_opt_in: Option<bool>,
}

/// Change the workspace's name or default region (owners and managers).
#[utoipa::path(patch, path = "/workspace", tag = "accounts", request_body = WorkspaceInput,
    responses((status = 200, body = WorkspaceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_workspace(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<WorkspaceInput>,
) -> ApiResult<Json<WorkspaceView>> {
    auth.require_admin()?;
    let patch = WorkspacePatch {
        name: input.name.as_deref().map(|n| check_name("name", n)).transpose()?,
        default_region: input.default_region.map(|r| r.as_deref().map(check_region).transpose()).transpose()?,
        require_opt_in: input.require_opt_in,
    };
    Ok(Json(state.store.update_workspace(auth.workspace_id, patch, state.clock.now()).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    name: String,
    /// The user the token acts as; the caller by default.
    user_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    id: i64,
    user_id: i64,
    name: String,
    /// The token's first characters, to recognise it.
    prefix: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        TokenView {
            id: t.id.get(),
            user_id: t.user_id.get(),
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at.to_rfc3339(),
            revoked_at: t.revoked_at.map(|r| r.to_rfc3339()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    token: TokenView,
    /// The secret: shown once, never again. Send it as `Authorization: Bearer <token>`.
    secret: String,
}

/// Create an API token (owners and managers).
#[utoipa::path(post, path = "/tokens", tag = "accounts", request_body = TokenInput,
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<TokenInput>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    auth.require_admin()?;
    let name = check_name("name", &input.name)?;
    let user_id = input.user_id.map(UserId).unwrap_or(auth.user_id);
    let user = state.store.user(auth.workspace_id, user_id).await?;
    if !auth.role.can_grant(user.role) {
        return Err(ApiError::forbidden("only an owner may create a token for an owner"));
    }
    let issued = issue_token(name);
    let token = state.store.create_token(auth.workspace_id, user.id, issued.record, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token.into(), secret: issued.secret })))
}

/// List API tokens (owners and managers). Secrets are never shown again.
#[utoipa::path(get, path = "/tokens", tag = "accounts", responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tokens(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<TokenView>>> {
    auth.require_admin()?;
    let tokens = state.store.tokens(auth.workspace_id).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Revoke an API token (owners and managers).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id = TokenId(id);
    let tokens = state.store.tokens(auth.workspace_id).await?;
    let token = tokens.iter().find(|t| t.id == id).ok_or_else(ApiError::not_found)?;
    let holder = state.store.user(auth.workspace_id, token.user_id).await?;
    if !auth.role.can_grant(holder.role) {
        return Err(ApiError::forbidden("only an owner may revoke an owner's token"));
    }
    state.store.revoke_token(auth.workspace_id, id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
