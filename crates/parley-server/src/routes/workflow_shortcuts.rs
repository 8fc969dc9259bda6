//! Shortcuts: workflows whose trigger is `shortcut`, run by anyone who can see a conversation
//! (agents too) from the inbox's composer, on that conversation. Owners and managers write
//! them (`routes/workflows.rs`); here they are listed and started.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::ids::ConversationId;
use parley_core::workflow::{Definition, Memory, parse};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::workflows::{RunView, run_view};
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(start))
}

/// A shortcut an agent can run.
#[derive(Serialize, ToSchema)]
pub struct Shortcut {
    id: i64,
    name: String,
}

/// The workspace's active shortcut workflows, with their published definition.
async fn shortcuts(state: &AppState, auth: &Auth) -> ApiResult<Vec<(parley_store::Workflow, Definition)>> {
    let mut out = Vec::new();
    for active in state.store.active_workflows().await? {
        if active.workflow.workspace_id != auth.workspace_id {
            continue;
        }
        let read = serde_json::from_str::<Value>(&active.definition).ok().and_then(|v| parse(&v).ok());
        if let Some(definition) = read.filter(|d| d.trigger.is_shortcut()) {
            out.push((active.workflow, definition));
        }
    }
    out.sort_by_key(|(w, _)| w.name.to_lowercase());
    Ok(out)
}

fn already_running() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "already_running", "this shortcut runs on the conversation")
}

/// The shortcuts that can run on this conversation.
#[utoipa::path(get, path = "/conversations/{id}/shortcuts", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Shortcut>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<Shortcut>>> {
    state.store.conversation(auth.workspace_id, ConversationId(id), auth.viewer()).await?;
    let found = shortcuts(&state, &auth).await?;
    Ok(Json(found.into_iter().map(|(w, _)| Shortcut { id: w.id, name: w.name }).collect()))
}

/// Runs a shortcut on the conversation; its run's `trigger.by` is who ran it. `409
/// already_running` while it runs there.
#[utoipa::path(post, path = "/conversations/{id}/shortcuts/{workflow_id}", tag = "workflows",
    params(("id" = i64, Path), ("workflow_id" = i64, Path)),
    responses((status = 201, body = RunView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_running`")),
    security(("bearer" = [])))]
async fn start(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(ids): ApiPath<(PathId, PathId)>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let (PathId(id), PathId(workflow_id)) = ids;
    let conversation = state.store.conversation(auth.workspace_id, ConversationId(id), auth.viewer()).await?;
    let (workflow, definition) = shortcuts(&state, &auth)
        .await?
        .into_iter()
        .find(|(w, _)| w.id == workflow_id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such shortcut"))?;
    let now = state.clock.now();
    let (running, _) = state.store.conversation_runs(workflow.id, conversation.id, now).await?;
    if running {
        return Err(already_running());
    }
    let trigger = json!({"by": auth.user_id.get(), "conversation_id": id, "contact_id": conversation.contact_id.get()});
    let call = crate::workers::workflows::HookCall {
        contact: conversation.contact_id,
        conversation: Some(conversation.id),
        payload: trigger.clone(),
    };
    // The workflow's conditions, once-per-contact and loop guard hold for shortcuts too.
    let Some(mut run) = crate::workers::workflows::hooked(&state, &workflow, &definition, call, now).await? else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "shortcut_not_applicable",
            "this shortcut's conditions do not hold on this conversation",
        ));
    };
    run.memory = Memory { trigger, ..Memory::default() }.to_value();
    let run = state.store.start_run_alone(&run, now).await.map_err(|e| match e {
        parley_store::StoreError::Conflict { field: "conversation" } => already_running(),
        other => other.into(),
    })?;
    state.runs_wakeup.notify_one();
    Ok((StatusCode::CREATED, Json(run_view(run, None))))
}
