//! `/api/v1/workflows`: automations (owners and managers). A workflow is saved as a draft
//! (any JSON definition that reads, problems listed), published as a new version (only without
//! problems; runs already going keep theirs), and switched on. Publishing answers the paths that
//! reply without a way to a person (WhatsApp's human path): a warning, not a refusal. Runs and
//! their history are readable here; `workers/workflows.rs` starts and runs them. The gallery's
//! templates install in one call.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::account::check_name;
use parley_core::ids::UserId;
use parley_core::workflow::gallery::{GALLERY, template};
use parley_core::workflow::paths::paths_without_a_person;
use parley_core::workflow::{Problem, parse, validate};
use parley_store::{NewWorkflow, Run, RunStep, Workflow, WorkflowPatch};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(gallery))
        .routes(routes!(install))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(publish))
        .routes(routes!(runs, start))
        .routes(routes!(dry_run))
        .routes(routes!(run_history))
        .routes(routes!(automation_report))
}

/// A workflow with what stands in the way of publishing its draft.
#[derive(Serialize, ToSchema)]
pub struct WorkflowView {
    id: i64,
    name: String,
    active: bool,
    once_per_contact: bool,
    /// The published version runs start on (0: never published).
    version: i64,
    #[schema(value_type = Object)]
    draft: Value,
    /// What must be fixed before the draft can be published: each with its step (when one is at
    /// fault), a stable `code`, the values it names (`params`) and an English `message`.
    problems: Vec<Problem>,
    /// Paths of the draft that reply automatically without a way to a person (step ids).
    paths_without_a_person: Vec<Vec<String>>,
    updated_at: String,
}

/// A workflow as the API shows it; `bots` are the workspace's bots (not a way to a person).
fn view(w: Workflow, bots: &[UserId]) -> WorkflowView {
    let draft: Value = serde_json::from_str(&w.draft).unwrap_or(Value::Null);
    let (problems, paths) = match parse(&draft) {
        Ok(d) => (validate(&d), paths_without_a_person(&d, &|id| bots.contains(&UserId(id)))),
        Err(problems) => (problems, vec![]),
    };
    WorkflowView {
        id: w.id,
        name: w.name,
        active: w.active,
        once_per_contact: w.once_per_contact,
        version: w.version,
        draft,
        problems,
        paths_without_a_person: paths,
        updated_at: w.updated_at.to_rfc3339(),
    }
}

async fn bot_ids(state: &AppState, ws: parley_core::ids::WorkspaceId) -> ApiResult<Vec<UserId>> {
    Ok(state.store.users(ws).await?.into_iter().filter(|u| u.bot).map(|u| u.id).collect())
}

/// One workflow as the API shows it.
async fn shown(state: &AppState, w: Workflow) -> ApiResult<WorkflowView> {
    let bots = bot_ids(state, w.workspace_id).await?;
    Ok(view(w, &bots))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowInput {
    name: String,
    /// The definition (see docs/workflows.md); saved as the draft.
    #[schema(value_type = Object)]
    definition: Value,
    /// Start at most one run per contact, ever.
    #[serde(default)]
    once_per_contact: bool,
}

/// The workspace's workflows.
#[utoipa::path(get, path = "/workflows", tag = "workflows",
    responses((status = 200, body = Vec<WorkflowView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<WorkflowView>>> {
    auth.require_admin()?;
    let bots = bot_ids(&state, auth.workspace_id).await?;
    Ok(Json(state.store.workflows(auth.workspace_id).await?.into_iter().map(|w| view(w, &bots)).collect()))
}

/// Saves a new workflow as a draft (switched off, never published).
#[utoipa::path(post, path = "/workflows", tag = "workflows", request_body = WorkflowInput,
    responses((status = 201, body = WorkflowView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<WorkflowInput>,
) -> ApiResult<(StatusCode, Json<WorkflowView>)> {
    auth.require_admin()?;
    let name = check_name("name", &input.name)?;
    let draft = draft_text(&input.definition)?;
    let new = NewWorkflow {
        name: &name,
        draft: &draft,
        once_per_contact: input.once_per_contact,
        created_by: Some(auth.user_id),
    };
    let w = state.store.create_workflow(auth.workspace_id, new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(shown(&state, w).await?)))
}

/// A draft is any JSON object up to 256 KiB: problems are listed, not refused, until publishing.
fn draft_text(definition: &Value) -> ApiResult<String> {
    let text = definition.to_string();
    if !definition.is_object() || text.len() > 256 * 1024 {
        return Err(ApiError::bad_request("definition is a JSON object of at most 256 KiB").with_field("definition"));
    }
    Ok(text)
}

#[utoipa::path(get, path = "/workflows/{id}", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = WorkflowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<WorkflowView>> {
    auth.require_admin()?;
    let w = state.store.workflow(auth.workspace_id, id).await?;
    Ok(Json(shown(&state, w).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkflowChange {
    name: Option<String>,
    #[schema(value_type = Object)]
    definition: Option<Value>,
    once_per_contact: Option<bool>,
    /// Switches it on (only once published) or off.
    active: Option<bool>,
}

/// Changes the draft, the name, or switches the workflow on or off.
#[utoipa::path(patch, path = "/workflows/{id}", tag = "workflows", params(("id" = i64, Path)),
    request_body = WorkflowChange,
    responses((status = 200, body = WorkflowView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "`not_published`")),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<WorkflowChange>,
) -> ApiResult<Json<WorkflowView>> {
    auth.require_admin()?;
    let before = state.store.workflow(auth.workspace_id, id).await?;
    if input.active == Some(true) && before.version == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_published",
            "publish the workflow before switching it on",
        )
        .with_field("active"));
    }
    let patch = WorkflowPatch {
        name: input.name.as_deref().map(|n| check_name("name", n)).transpose()?,
        draft: input.definition.as_ref().map(draft_text).transpose()?,
        once_per_contact: input.once_per_contact,
        active: input.active,
    };
    let w = state.store.update_workflow(auth.workspace_id, id, patch, state.clock.now()).await?;
    Ok(Json(shown(&state, w).await?))
}

/// Deletes the workflow with its versions, runs and their history.
#[utoipa::path(delete, path = "/workflows/{id}", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    state.store.delete_workflow(auth.workspace_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The problems of a definition as one API error, naming the first step at fault.
fn invalid(problems: &[Problem]) -> ApiError {
    let message = problems
        .iter()
        .map(|p| match &p.step {
            Some(step) => format!("step {step}: {}", p.message),
            None => p.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow", message);
    match problems.iter().find_map(|p| p.step.as_ref()) {
        Some(step) => error.with_field(format!("steps.{step}")),
        None => error.with_field("definition"),
    }
}

/// Publishes the draft as the next version (refused while it has problems). The answer lists
/// the paths without a way to a person, which WhatsApp requires of automated chats.
#[utoipa::path(post, path = "/workflows/{id}/publish", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = WorkflowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_workflow`")),
    security(("bearer" = [])))]
async fn publish(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<WorkflowView>> {
    auth.require_admin()?;
    let w = state.store.workflow(auth.workspace_id, id).await?;
    let draft: Value = serde_json::from_str(&w.draft).unwrap_or(Value::Null);
    let definition = parse(&draft).map_err(|p| invalid(&p))?;
    let problems = validate(&definition);
    if !problems.is_empty() {
        return Err(invalid(&problems));
    }
    let text = serde_json::to_string(&definition).map_err(|_| ApiError::internal())?;
    let now = state.clock.now();
    let w = state.store.publish_workflow(auth.workspace_id, id, &text, Some(auth.user_id), now).await?;
    Ok(Json(shown(&state, w).await?))
}

#[derive(Serialize, ToSchema)]
pub struct GalleryItem {
    key: &'static str,
    name: &'static str,
    description: &'static str,
    #[schema(value_type = Object)]
    definition: Value,
}

/// Workflows to start from.
#[utoipa::path(get, path = "/workflows/gallery", tag = "workflows",
    responses((status = 200, body = Vec<GalleryItem>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn gallery(auth: Auth) -> ApiResult<Json<Vec<GalleryItem>>> {
    auth.require_admin()?;
    Ok(Json(
        GALLERY
            .iter()
            .map(|t| GalleryItem { key: t.key, name: t.name, description: t.description, definition: (t.definition)() })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct InstallInput {
    /// Switch it on at once (default: installed published, switched off).
    #[serde(default)]
    active: bool,
}

/// Installs a template of the gallery: saved, published, and switched on when asked.
#[utoipa::path(post, path = "/workflows/gallery/{key}", tag = "workflows", params(("key" = String, Path)),
    request_body = InstallInput,
    responses((status = 201, body = WorkflowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn install(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(input): ApiJson<InstallInput>,
) -> ApiResult<(StatusCode, Json<WorkflowView>)> {
    auth.require_admin()?;
    let t = template(&key).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such template"))?;
    let text = (t.definition)().to_string();
    let now = state.clock.now();
    let new = NewWorkflow { name: t.name, draft: &text, once_per_contact: false, created_by: Some(auth.user_id) };
    let w = state.store.create_workflow(auth.workspace_id, new, now).await?;
    let w = state.store.publish_workflow(auth.workspace_id, w.id, &text, Some(auth.user_id), now).await?;
    let w = if input.active {
        let patch = WorkflowPatch { active: Some(true), ..WorkflowPatch::default() };
        state.store.update_workflow(auth.workspace_id, w.id, patch, now).await?
    } else {
        w
    };
    Ok((StatusCode::CREATED, Json(shown(&state, w).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct RunView {
    id: i64,
    workflow_id: i64,
    version: i64,
    conversation_id: Option<i64>,
    contact_id: Option<i64>,
    /// `running`, `done`, `failed`, `cancelled`.
    status: &'static str,
    step: Option<String>,
    /// When the step due runs (a wait ends).
    wake_at: Option<String>,
    error: Option<String>,
    started_at: String,
    updated_at: String,
    /// What started it (the event's payload, the webhook's body, who ran the shortcut) and the
    /// answers and values it kept (on `GET /workflow-runs/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    memory: Option<Value>,
    /// Each step taken, oldest first (on `GET /workflow-runs/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    history: Option<Vec<Value>>,
}

pub(crate) fn run_view(r: Run, history: Option<Vec<RunStep>>) -> RunView {
    RunView {
        id: r.id,
        workflow_id: r.workflow_id,
        version: r.version,
        conversation_id: r.conversation_id.map(|c| c.get()),
        contact_id: r.contact_id.map(|c| c.get()),
        status: r.status.as_str(),
        step: r.step,
        wake_at: r.wake_at.map(|t| t.to_rfc3339()),
        error: r.error,
        started_at: r.started_at.to_rfc3339(),
        updated_at: r.updated_at.to_rfc3339(),
        memory: history.is_some().then(|| {
            let mut m = r.memory.clone();
            // The question being waited for is the runner's bookkeeping, not the history's.
            if let Some(o) = m.as_object_mut() {
                o.remove("asking");
            }
            m
        }),
        history: history.map(|steps| {
            steps
                .into_iter()
                .map(|s| {
                    serde_json::json!({"seq": s.seq, "step": s.step, "kind": s.kind, "outcome": s.outcome,
                        "detail": s.detail, "at": s.at.to_rfc3339()})
                })
                .collect()
        }),
    }
}

/// The workflow's runs, newest first (the latest 100).
#[utoipa::path(get, path = "/workflows/{id}/runs", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RunView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn runs(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<RunView>>> {
    auth.require_admin()?;
    state.store.workflow(auth.workspace_id, id).await?;
    let runs = state.store.runs(auth.workspace_id, id, 100).await?;
    Ok(Json(runs.into_iter().map(|r| run_view(r, None)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// The conversation the run acts on.
    conversation_id: i64,
}

/// Runs the published version by hand on a conversation (any trigger; `manual` workflows run
/// only so).
#[utoipa::path(post, path = "/workflows/{id}/runs", tag = "workflows", params(("id" = i64, Path)),
    request_body = StartInput,
    responses((status = 201, body = RunView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_running` on the conversation"),
        (status = 422, body = ErrorBody, description = "`not_published`")),
    security(("bearer" = [])))]
async fn start(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<StartInput>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    auth.require_admin()?;
    let w = state.store.workflow(auth.workspace_id, id).await?;
    let conversation = parley_core::ids::ConversationId(input.conversation_id);
    let conversation = state.store.conversation(auth.workspace_id, conversation, auth.viewer()).await?;
    let run = crate::workers::workflows::run_on(&state, &w, conversation.id, Some(conversation.contact_id)).await?;
    let run = state.store.start_run_alone(&run, state.clock.now()).await.map_err(|e| match e {
        parley_store::StoreError::Conflict { field: "conversation" } => {
            ApiError::new(StatusCode::CONFLICT, "already_running", "the workflow runs on this conversation")
        }
        other => other.into(),
    })?;
    state.runs_wakeup.notify_one();
    Ok((StatusCode::CREATED, Json(run_view(run, None))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunInput {
    /// The conversation it is tried on.
    conversation_id: i64,
    /// The definition to try (the saved draft when left out).
    #[schema(value_type = Option<Object>)]
    definition: Option<Value>,
}

/// What the draft (or the definition given) would do on a conversation now, step by step, with
/// nothing done: no message leaves, no call goes out. `422 invalid_workflow` names its problems.
#[utoipa::path(post, path = "/workflows/{id}/dry-run", tag = "workflows", params(("id" = i64, Path)),
    request_body = DryRunInput,
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_workflow`")),
    security(("bearer" = [])))]
async fn dry_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<DryRunInput>,
) -> ApiResult<Json<Vec<Value>>> {
    auth.require_admin()?;
    let w = state.store.workflow(auth.workspace_id, id).await?;
    let raw = match input.definition {
        Some(d) => d,
        None => serde_json::from_str(&w.draft).map_err(|_| ApiError::internal())?,
    };
    let invalid = |problems: Vec<Problem>| {
        let first = problems.first().map(|p| p.message.clone()).unwrap_or_default();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow", first).with_field("definition")
    };
    let definition = parse(&raw).map_err(invalid)?;
    let problems = validate(&definition);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let conversation = parley_core::ids::ConversationId(input.conversation_id);
    let conversation = state.store.conversation(auth.workspace_id, conversation, auth.viewer()).await?;
    let walked = crate::workers::workflows::dry_run::dry_run(
        &state,
        auth.workspace_id,
        &definition,
        conversation.id,
        conversation.contact_id,
    )
    .await?;
    Ok(Json(walked))
}

/// A run with its history: each step, what it did, when.
#[utoipa::path(get, path = "/workflow-runs/{id}", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = RunView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn run_history(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<RunView>> {
    auth.require_admin()?;
    let run = state.store.run(auth.workspace_id, id).await?;
    let steps = state.store.run_steps(auth.workspace_id, id).await?;
    Ok(Json(run_view(run, Some(steps))))
}

/// An automation without a way to a person.
#[derive(Serialize, ToSchema)]
pub struct Unescalated {
    kind: &'static str,
    id: i64,
    name: String,
    /// Why: the paths (step ids) that reply without reaching a person, or what the bot lacks.
    why: String,
}

/// The automations that may answer this number's customers without a way to reach a person:
/// active workflows with such a path (unless their conditions keep them to another number), and
/// bots that never hand over (no hand-over keyword, no silence limit, no turn limit). WhatsApp
/// requires automated chats to offer a person, and lowers the quality of numbers that do not.
#[utoipa::path(get, path = "/channels/{id}/automations-without-a-person", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Unescalated>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn automation_report(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<Vec<Unescalated>>> {
    auth.require_admin()?;
    let ws = auth.workspace_id;
    let channel = state.store.channel(ws, parley_core::ids::ChannelId(id), auth.viewer()).await?;
    let bots = bot_ids(&state, ws).await?;
    let mut out = Vec::new();
    for active in state.store.active_workflows().await?.into_iter().filter(|a| a.workflow.workspace_id == ws) {
        let Some(d) = serde_json::from_str::<Value>(&active.definition).ok().and_then(|v| parse(&v).ok()) else {
            continue;
        };
        if d.kept_to_another_channel(channel.id.get()) {
            continue;
        }
        let paths = paths_without_a_person(&d, &|id| bots.contains(&UserId(id)));
        if !paths.is_empty() {
            let why = paths.iter().map(|p| p.join(" → ")).collect::<Vec<_>>().join("; ");
            out.push(Unescalated { kind: "workflow", id: active.workflow.id, name: active.workflow.name, why });
        }
    }
    for bot in state.store.users(ws).await?.into_iter().filter(|u| u.bot && u.deactivated_at.is_none()) {
        if !state.store.bot_settings(ws, bot.id).await?.hands_over() {
            let why = "no hand-over keyword, silence limit or turn limit".to_owned();
            out.push(Unescalated { kind: "bot", id: bot.id.get(), name: bot.name, why });
        }
    }
    Ok(Json(out))
}
