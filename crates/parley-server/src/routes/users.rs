//! `/api/v1/users`: the workspace's users. Owners and managers add them (with a password, or
//! without one and then an invitation link with which they choose it), change their name and
//! role, and deactivate them; a manager never touches an owner, and a workspace keeps an active
//! owner. Deactivating ends the user's tokens and sessions and puts their open conversations
//! back in the queue.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::account::{Role, check_name, check_password};
use parley_core::contact::check_email;
use parley_core::ids::UserId;
use parley_store::{NewUser, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::UserView;
use crate::auth::{Auth, hash_token};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, PathId};
use crate::password::hash_password;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(update_user))
        .routes(routes!(invite_user))
}

/// How long an invitation link works.
pub const INVITE_SECS: i64 = 7 * 24 * 3600;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    email: String,
    name: String,
    #[schema(value_type = String, example = "agent")]
    role: Role,
    /// Optional: without one, send the user an invitation (`POST /users/{id}/invite`), or let
    /// them use API tokens only.
    password: Option<String>,
}

/// Create a user (owners and managers; only owners create owners).
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = UserInput,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<UserInput>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    auth.require_admin()?;
    if !auth.role.can_grant(input.role) {
        return Err(ApiError::forbidden("only an owner may create an owner"));
    }
    let email = check_email("email", &input.email)?;
    let name = check_name("name", &input.name)?;
    let password_hash = match input.password {
        Some(password) => {
            check_password(&password)?;
            Some(hash_password(password).await?)
        }
        None => None,
    };
    let user = NewUser { email, name, role: input.role, password_hash };
    let created = state.store.create_user(auth.workspace_id, user, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// List the workspace's users, deactivated ones included.
#[utoipa::path(get, path = "/users", tag = "accounts", responses((status = 200, body = Vec<UserView>)),
    security(("bearer" = [])))]
async fn list_users(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<UserView>>> {
    let users = state.store.users(auth.workspace_id).await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    name: Option<String>,
    #[schema(value_type = Option<String>, example = "manager")]
    role: Option<Role>,
    /// `false` deactivates the user, `true` brings them back.
    active: Option<bool>,
}

/// Change a user's name or role, deactivate or reactivate them (owners and managers).
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", params(("id" = i64, Path)), request_body = UserChange,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`last_owner` or `cannot_deactivate_self`")),
    security(("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<UserChange>,
) -> ApiResult<Json<UserView>> {
    auth.require_admin()?;
    let id = UserId(id);
    // The role rules are checked by the store, in the transaction that writes: a check here
    // could pass on a role that a concurrent change moves before the write.
    let patch = UserPatch {
        name: input.name.as_deref().map(|n| check_name("name", n)).transpose()?,
        role: input.role,
        active: input.active,
    };
    let now = state.clock.now();
    Ok(Json(state.store.update_user(auth.workspace_id, id, patch, Some(auth.user_id), now).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Invitation {
    /// The page where the user chooses their password (on this server; send them the whole
    /// address). Shown once: only its hash is kept. A new invitation ends the previous one.
    url: String,
    expires_at: String,
    /// Whether it was mailed to the user (`?mail=true`).
    mailed: bool,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InviteParams {
    /// Also mail the link to the user's address, through the server's `[mail]` relay (the link
    /// made absolute with the server's `public_url`).
    mail: Option<bool>,
}

/// Make an invitation link for a user (owners and managers; a manager not for an owner).
#[utoipa::path(post, path = "/users/{id}/invite", tag = "accounts", params(("id" = i64, Path), InviteParams),
    responses((status = 201, body = Invitation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`mail_not_configured`"),
        (status = 422, body = ErrorBody, description = "`user_deactivated`"),
        (status = 502, body = ErrorBody, description = "`mail_failed`: the relay refused; invite again")),
    security(("bearer" = [])))]
async fn invite_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<InviteParams>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    auth.require_admin()?;
    let mail = params.mail.unwrap_or(false);
    let mailer = state.mailer.clone().filter(|_| mail);
    if mail && mailer.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "mail_not_configured",
            "mail is not set up on this server ([mail])",
        ));
    }
    let id = UserId(id);
    let target = state.store.user(auth.workspace_id, id).await?;
    if !auth.role.can_grant(target.role) {
        return Err(ApiError::forbidden("only an owner may invite an owner"));
    }
    if target.bot {
        // A bot acts through its token; a password would let a person log in as it.
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bot_user",
            "a bot never logs in: use its API token",
        ));
    }
    let secret = crate::web::session::new_secret();
    let now = state.clock.now();
    let expires_at = now.plus_secs(INVITE_SECS);
    state.store.create_invite(auth.workspace_id, id, &hash_token(&secret), expires_at, Some(auth.user_id), now).await?;
    let url = format!("/invite/{secret}");
    if let Some(mailer) = mailer {
        let link = format!("{}{url}", state.public_url.trim_end_matches('/'));
        let body = format!(
            "Hello {},\n\nYou are invited to Parley. Choose your password here (the link works once, until {}):\n\n{link}\n",
            target.name,
            expires_at.to_rfc3339()
        );
        mailer.send(&[target.email.as_str().to_owned()], "Your Parley invitation", &body).await.map_err(|e| {
            tracing::warn!(user = id.get(), error = %e, "cannot mail an invitation");
            ApiError::new(StatusCode::BAD_GATEWAY, "mail_failed", "the mail relay refused the invitation; invite again")
        })?;
    }
    Ok((StatusCode::CREATED, Json(Invitation { url, expires_at: expires_at.to_rfc3339(), mailed: mail })))
}
