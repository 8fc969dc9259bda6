//! `/api/v1/channels/{id}/templates`: message templates of the channel's WhatsApp Business
//! Account. Creating and editing validate every rule first (`invalid_template`), then submit to
//! the provider; a submitted version is never changed (an edit is a new version). Review
//! outcomes, pauses, quality and category changes arrive by webhook; `…/sync` (and the periodic
//! sync in `workers/provider_sync.rs`) is the safety net.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::channel::{Channel, Provider};
use parley_core::ids::{ChannelId, UserId};
use parley_core::template::{TemplateDraft, TemplateStatus, ValidTemplate, check_language, check_template_name};
use parley_core::template_review::edit_allowed;
use parley_providers::meta::manage::ManageError;
use parley_store::{StoredTemplate, SubmissionResult, SyncReport, TemplateSubmission};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions::{self, live_channel};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

/// A live channel whose provider lets Parley do this to its templates: `can` is
/// `Provider::manages_templates` (create, delete: Meta and 360dialog) or `Provider::graph_api`
/// (edit, unpause: Meta's API only). Twilio's are made in Twilio's console and synced. Refused
/// here before anything is stored (422 `not_supported_by_provider`).
async fn managed_channel(
    state: &AppState,
    actor: &actions::Actor,
    id: ChannelId,
    can: fn(Provider) -> bool,
) -> ApiResult<Channel> {
    let channel = live_channel(state, actor, id).await?;
    if !can(channel.provider) {
        return Err(crate::state::not_supported_by_provider(&channel));
    }
    Ok(channel)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(sync_templates))
        .routes(routes!(delete_template))
        .routes(routes!(get_template))
        .routes(routes!(new_version))
        .routes(routes!(unpause_template))
}

/// The number's templates: their status, quality and category as last reported.
#[utoipa::path(get, path = "/channels/{id}/templates", tag = "templates", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_templates(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<StoredTemplate>>> {
    let id = ChannelId(id);
    let channel = state.store.channel(auth.workspace_id, id, auth.viewer()).await?;
    Ok(Json(state.store.templates(auth.workspace_id, &channel.waba_id).await?))
}

/// Submits a new version to the provider; the stored version is removed if the provider refuses.
async fn submit(
    state: &AppState,
    channel: &Channel,
    template: &StoredTemplate,
    valid: &ValidTemplate,
    edit: bool,
) -> ApiResult<StoredTemplate> {
    let ws = channel.workspace_id;
    let client = if edit { state.graph_client(channel)? } else { state.cloud_client(channel)? };
    let answer = match (edit, &template.provider_template_id) {
        (true, Some(pid)) => {
            let mut body = valid.edit_body();
            // Meta refuses any category on an approved template's edit (it cannot change anyway).
            if template.status == "approved"
                && let Some(o) = body.as_object_mut()
            {
                o.remove("category");
            }
            client.edit_template(pid, &body).await.map(|()| json!({"status": "PENDING"}))
        }
        _ => client.create_template(&channel.waba_id, &valid.create_body()).await,
    };
    match answer {
        Ok(answer) => {
            let result = SubmissionResult::Accepted {
                provider_template_id: answer.get("id").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                status: answer.get("status").and_then(Value::as_str).unwrap_or("PENDING").to_owned(),
                category: answer.get("category").and_then(Value::as_str).map(str::to_owned),
            };
            let stored = state
                .store
                .finish_template_submission(ws, template.id, template.version, result, state.clock.now())
                .await?;
            stored.ok_or_else(ApiError::internal)
        }
        // Refused: the version never existed at the provider.
        Err(e @ ManageError::Refused { .. }) => {
            let now = state.clock.now();
            state
                .store
                .finish_template_submission(ws, template.id, template.version, SubmissionResult::Failed, now)
                .await?;
            Err(e.into())
        }
        // No answer: it may have arrived. It stays `submitting`; the review webhook or the next
        // sync settles it (a sync drops it if the provider never got it).
        Err(e) => {
            let why = ApiError::from(e).message;
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_unavailable",
                format!(
                    "{why}; the version stays `submitting` until the provider's answer or the next sync settles it"
                ),
            ))
        }
    }
}

fn submission(channel: &Channel, valid: &ValidTemplate, submitted_by: Option<UserId>) -> TemplateSubmission {
    TemplateSubmission {
        waba_id: channel.waba_id.clone(),
        name: valid.name.clone(),
        language: valid.language.clone(),
        category: valid.category.as_str().to_owned(),
        parameter_format: valid.parameter_format.as_str().to_owned(),
        components: Value::Array(valid.components.clone()),
        submitted_by,
    }
}

/// Create a template and submit it for review (owners and managers). Every rule is checked
/// first: a broken one is a 422 `invalid_template` naming the component.
#[utoipa::path(post, path = "/channels/{id}/templates", tag = "templates", params(("id" = i64, Path)),
    request_body = Object,
    responses((status = 201, body = Object), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(draft): ApiJson<TemplateDraft>,
) -> ApiResult<(StatusCode, Json<StoredTemplate>)> {
    auth.require_admin()?;
    let channel = managed_channel(&state, &auth.actor(), ChannelId(id), Provider::manages_templates).await?;
    let valid = draft.validate()?;
    let stored = create_and_submit(&state, &channel, &valid, Some(auth.user_id)).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Stores a new template at the channel's account and submits it for review (the channel's
/// provider manages templates; `valid` passed every rule). Also how a move re-creates the old
/// account's templates at the new one.
pub(crate) async fn create_and_submit(
    state: &AppState,
    channel: &Channel,
    valid: &ValidTemplate,
    submitted_by: Option<UserId>,
) -> ApiResult<StoredTemplate> {
    // `…/templates/sync` is a route of its own: a template of that name could not be deleted.
    if valid.name == "sync" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            "the name `sync` is reserved by Parley's API: choose another",
        )
        .with_field("name"));
    }
    let stored = state
        .store
        .create_template(channel.workspace_id, submission(channel, valid, submitted_by), state.clock.now())
        .await
        .map_err(|e| match e {
            parley_store::StoreError::Conflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "template_exists",
                format!(
                    "template {} already exists in {}: submit a new version of it instead",
                    valid.name, valid.language
                ),
            )
            .with_field("name"),
            other => other.into(),
        })?;
    submit(state, channel, &stored, valid, false).await
}

/// One template in one language, with every version (newest first).
#[utoipa::path(get, path = "/channels/{id}/templates/{name}/{language}", tag = "templates",
    params(("id" = i64, Path), ("name" = String, Path), ("language" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, name, language)): ApiPath<(PathId, String, String)>,
) -> ApiResult<Json<StoredTemplate>> {
    let id = ChannelId(id.0);
    let channel = state.store.channel(auth.workspace_id, id, auth.viewer()).await?;
    Ok(Json(state.store.template(auth.workspace_id, &channel.waba_id, &name, &language).await?))
}

/// What an edit may change: the components (all of them: they replace the old ones), and the
/// category while the template is not approved.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateEdit {
    #[schema(value_type = Vec<Object>)]
    components: Vec<Value>,
    category: Option<String>,
    parameter_format: Option<String>,
    message_send_ttl_seconds: Option<i64>,
}

/// Submit a changed template as a new version (owners and managers). The provider reviews it
/// again; the versions before it stay in the history.
#[utoipa::path(post, path = "/channels/{id}/templates/{name}/{language}/versions", tag = "templates",
    params(("id" = i64, Path), ("name" = String, Path), ("language" = String, Path)), request_body = TemplateEdit,
    responses((status = 201, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn new_version(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, name, language)): ApiPath<(PathId, String, String)>,
    ApiJson(edit): ApiJson<TemplateEdit>,
) -> ApiResult<(StatusCode, Json<StoredTemplate>)> {
    auth.require_admin()?;
    let channel = managed_channel(&state, &auth.actor(), ChannelId(id.0), Provider::graph_api).await?;
    let current = state.store.template(auth.workspace_id, &channel.waba_id, &name, &language).await?;
    let status = TemplateStatus::parse(&current.status).unwrap_or(TemplateStatus::Pending);
    let now = state.clock.now();
    if current.versions.iter().any(|v| matches!(v.status.as_str(), "submitting" | "pending")) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "template_not_editable",
            "a version of this template is still in review: wait for its outcome",
        ));
    }
    // Meta's limits count the edits of an approved template (made here or in WhatsApp Manager):
    // the versions whose previous version was approved.
    let recent: Vec<i64> = current
        .versions
        .windows(2)
        .filter(|pair| pair[1].status == "approved")
        .map(|pair| pair[0].submitted_at.as_secs())
        .collect();
    edit_allowed(status, if status == TemplateStatus::Approved { &recent } else { &[] }, now.as_secs())
        .map_err(|why| ApiError::new(StatusCode::CONFLICT, "template_not_editable", why))?;
    if edit.parameter_format.as_deref().is_some_and(|f| !f.eq_ignore_ascii_case(&current.parameter_format)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "template_not_editable",
            "the parameter format of a submitted template cannot change: create a new template",
        )
        .with_field("parameter_format"));
    }
    let category = edit.category.clone().unwrap_or_else(|| current.category.clone());
    if status == TemplateStatus::Approved && !category.eq_ignore_ascii_case(&current.category) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "template_not_editable",
            "the category of an approved template cannot change: create a new template",
        )
        .with_field("category"));
    }
    let draft = TemplateDraft {
        name: current.name.clone(),
        language: current.language.clone(),
        category,
        parameter_format: Some(current.parameter_format.clone()),
        components: edit.components,
        message_send_ttl_seconds: edit.message_send_ttl_seconds,
    };
    let valid = draft.validate()?;
    let pending = state
        .store
        .add_template_version(auth.workspace_id, current.id, submission(&channel, &valid, Some(auth.user_id)), now)
        .await?;
    let stored = submit(&state, &channel, &pending, &valid, true).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Delete a template, every language of the name, at the provider and here (owners and managers).
#[utoipa::path(delete, path = "/channels/{id}/templates/{name}", tag = "templates",
    params(("id" = i64, Path), ("name" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, name)): ApiPath<(PathId, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    check_template_name(&name)?;
    let channel = managed_channel(&state, &auth.actor(), ChannelId(id.0), Provider::manages_templates).await?;
    let known = state.store.templates(auth.workspace_id, &channel.waba_id).await?;
    if !known.iter().any(|t| t.name == name) {
        return Err(ApiError::not_found());
    }
    state.cloud_client(&channel)?.delete_template(&channel.waba_id, &name).await?;
    let deleted = state.store.delete_templates(auth.workspace_id, &channel.waba_id, &name, state.clock.now()).await?;
    Ok(Json(json!({"deleted": deleted})))
}

/// Ask the provider to lift a pacing pause (owners and managers); the status changes when its
/// webhook arrives.
#[utoipa::path(post, path = "/channels/{id}/templates/{name}/{language}/unpause", tag = "templates",
    params(("id" = i64, Path), ("name" = String, Path), ("language" = String, Path)),
    responses((status = 202, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn unpause_template(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, name, language)): ApiPath<(PathId, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_admin()?;
    check_language(&language)?;
    let channel = managed_channel(&state, &auth.actor(), ChannelId(id.0), Provider::graph_api).await?;
    let t = state.store.template(auth.workspace_id, &channel.waba_id, &name, &language).await?;
    let (true, Some(pid)) = (t.status == "paused", t.provider_template_id.as_deref()) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "template_not_paused",
            format!("template {name} is {}", t.status),
        ));
    };
    state.graph_client(&channel)?.unpause_template(pid).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"requested": true}))))
}

/// Fetch the number's templates from the provider now (owners and managers).
#[utoipa::path(post, path = "/channels/{id}/templates/sync", tag = "templates", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn sync_templates(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<SyncReport>> {
    let actor = auth.actor();
    actor.require_admin()?;
    let channel = live_channel(&state, &actor, ChannelId(id)).await?;
    Ok(Json(actions::channels::sync_templates(&state, &actor, &channel).await?))
}
