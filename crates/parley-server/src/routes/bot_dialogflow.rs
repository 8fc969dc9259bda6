//! `/api/v1/bots/{id}/dialogflow`: a bot whose answers come from a Dialogflow agent (ES or CX).
//! Owners and managers give the agent and its service account's key file; the key is sealed
//! like a channel's credentials and never shown again (only its account's address is). With
//! an agent, the bot answers each customer message (`workers/bot_answers.rs`)
//! and hands over on the intents named. `POST …/dialogflow/test` asks the agent once, without
//! sending anything, so an owner sees what the bot would do.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::dialogflow::{AgentInput, BotStep, DialogflowAgent, check_agent, next_step};
use parley_core::ids::UserId;
use parley_providers::dialogflow::{DialogflowError, KeyError, ServiceAccountKey};
use parley_providers::guard::{GOOGLE_HOSTS, Refused, Targets, check_url};
use parley_store::BotDialogflow;
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
        .routes(routes!(get_dialogflow, set_dialogflow, remove_dialogflow))
        .routes(routes!(test_dialogflow))
}

/// A bot's Dialogflow agent (never its key).
#[derive(Serialize, ToSchema)]
pub struct DialogflowView {
    /// `es` or `cx`.
    edition: String,
    project: String,
    location: String,
    agent: Option<String>,
    language: String,
    handover_intents: Vec<String>,
    endpoint: Option<String>,
    /// The service account whose key Parley holds.
    client_email: String,
    /// RFC 3339.
    updated_at: String,
}

impl From<BotDialogflow> for DialogflowView {
    fn from(d: BotDialogflow) -> Self {
        DialogflowView {
            edition: d.agent.edition.as_str().to_owned(),
            project: d.agent.project,
            location: d.agent.location,
            agent: d.agent.agent,
            language: d.agent.language,
            handover_intents: d.agent.handover_intents,
            endpoint: d.agent.endpoint,
            client_email: d.client_email,
            updated_at: d.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DialogflowInput {
    /// `es` (Dialogflow ES, API v2) or `cx` (Dialogflow CX, API v3).
    edition: String,
    /// The Google Cloud project; default: the key's `project_id`.
    project: Option<String>,
    /// `global` (default) or the agent's region, e.g. `europe-west1`.
    location: Option<String>,
    /// The CX agent's id (CX only).
    agent: Option<String>,
    /// The language of the queries (default `en`).
    language: Option<String>,
    /// Intents (display names) after which the bot hands the conversation to the team. A CX
    /// agent's live-agent hand-off always does.
    #[serde(default)]
    handover_intents: Vec<String>,
    /// Another base URL for Dialogflow's API (a private endpoint); it must pass the
    /// outbound-URL rules (Google's hosts over https, or the server's allow-list).
    endpoint: Option<String>,
    /// The service account's JSON key file, as Google Cloud hands it out. Optional when the bot
    /// already has one: the key held is kept.
    #[schema(value_type = Object)]
    key: Option<Value>,
}

async fn is_bot(state: &AppState, auth: &Auth, id: UserId) -> ApiResult<()> {
    auth.require_admin()?;
    // `NotFound` for anyone but a bot of the workspace.
    state.store.bot_settings(auth.workspace_id, id).await?;
    Ok(())
}

/// The bot's Dialogflow agent (404 `not_found` when it has none).
#[utoipa::path(get, path = "/bots/{id}/dialogflow", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = DialogflowView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_dialogflow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<DialogflowView>> {
    is_bot(&state, &auth, UserId(id)).await?;
    let held = state.store.bot_dialogflow(auth.workspace_id, UserId(id)).await?;
    Ok(Json(
        held.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "this bot has no Dialogflow agent"))?
            .into(),
    ))
}

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::TokenUri(refused) => ApiError::url_not_allowed(&refused, "key.token_uri"),
        other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_service_account_key", other.to_string())
            .with_field("key"),
    }
}

/// Gives the bot a Dialogflow agent, or changes it.
#[utoipa::path(put, path = "/bots/{id}/dialogflow", tag = "accounts", params(("id" = i64, Path)),
    request_body = DialogflowInput,
    responses((status = 200, body = DialogflowView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "`invalid_dialogflow_agent`, `invalid_service_account_key`, `url_not_allowed`")),
    security(("bearer" = [])))]
async fn set_dialogflow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<DialogflowInput>,
) -> ApiResult<Json<DialogflowView>> {
    let bot = UserId(id);
    is_bot(&state, &auth, bot).await?;
    let held = state.store.bot_dialogflow(auth.workspace_id, bot).await?;
    let (key, sealed_key) = match (input.key, held) {
        (Some(raw), _) => {
            let text = match raw {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let key = ServiceAccountKey::parse(&text, &state.outbound.allow).map_err(key_error)?;
            let sealed = state.seal_dialogflow_key(&key);
            (key, sealed)
        }
        (None, Some(held)) => (state.dialogflow_key(&held.sealed_key)?, held.sealed_key),
        (None, None) => {
            return Err(ApiError::bad_request("a bot's first agent needs its service account key").with_field("key"));
        }
    };
    let project = input.project.or_else(|| key.project_id.clone()).unwrap_or_default();
    let agent = check_agent(AgentInput {
        edition: input.edition,
        project,
        location: input.location,
        agent: input.agent,
        language: input.language,
        handover_intents: input.handover_intents,
        endpoint: input.endpoint,
    })?;
    if let Some(endpoint) = &agent.endpoint {
        check_url(endpoint, Targets::Official(GOOGLE_HOSTS), &state.outbound.allow)
            .map_err(|r: Refused| ApiError::url_not_allowed(&r, "endpoint"))?;
    }
    let record = BotDialogflow { agent, client_email: key.client_email, sealed_key, updated_at: state.clock.now() };
    state.store.set_bot_dialogflow(auth.workspace_id, bot, Some(&record)).await?;
    Ok(Json(record.into()))
}

/// The bot stops asking Dialogflow (its key is deleted); it stays a bot answering through the API.
#[utoipa::path(delete, path = "/bots/{id}/dialogflow", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove_dialogflow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<StatusCode> {
    is_bot(&state, &auth, UserId(id)).await?;
    state.store.set_bot_dialogflow(auth.workspace_id, UserId(id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    /// What a customer might write.
    text: String,
}

/// What the agent answered, and what the bot would do with it.
#[derive(Serialize, ToSchema)]
pub struct TestOutcome {
    intent: Option<String>,
    /// The messages the bot would send.
    texts: Vec<String>,
    /// Whether the bot would hand the conversation to the team, and the note it would leave.
    hands_over: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Asks the bot's agent once (a session of its own), sending nothing to anyone.
#[utoipa::path(post, path = "/bots/{id}/dialogflow/test", tag = "accounts", params(("id" = i64, Path)),
    request_body = TestInput,
    responses((status = 200, body = TestOutcome), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`dialogflow_refused`, `url_not_allowed`"),
        (status = 502, body = ErrorBody, description = "`dialogflow_unavailable`")),
    security(("bearer" = [])))]
async fn test_dialogflow(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiJson(input): ApiJson<TestInput>,
) -> ApiResult<Json<TestOutcome>> {
    is_bot(&state, &auth, UserId(id)).await?;
    let text = input.text.trim();
    if text.is_empty() || text.chars().count() > 256 {
        return Err(ApiError::bad_request("text is 1 to 256 characters").with_field("text"));
    }
    let held = state.store.bot_dialogflow(auth.workspace_id, UserId(id)).await?;
    let held =
        held.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "this bot has no Dialogflow agent"))?;
    let key = state.dialogflow_key(&held.sealed_key)?;
    let session = format!("parley-test-{id}");
    let reply = state.dialogflow().detect_intent(&held.agent, &key, &session, text).await.map_err(dialogflow_error)?;
    Ok(Json(outcome(&reply, &held.agent)))
}

fn outcome(reply: &parley_core::dialogflow::Reply, agent: &DialogflowAgent) -> TestOutcome {
    match next_step(reply, agent) {
        BotStep::Answer(texts) => TestOutcome { intent: reply.intent.clone(), texts, hands_over: false, note: None },
        BotStep::HandOver(texts, why) => {
            TestOutcome { intent: reply.intent.clone(), texts, hands_over: true, note: Some(why.note()) }
        }
    }
}

/// Google's answer as the API shows it.
pub(crate) fn dialogflow_error(e: DialogflowError) -> ApiError {
    match e {
        DialogflowError::NotAllowed(refused) => ApiError::url_not_allowed(&refused, "endpoint"),
        DialogflowError::Refused(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "dialogflow_refused", why),
        DialogflowError::Transient(why) => ApiError::new(StatusCode::BAD_GATEWAY, "dialogflow_unavailable", why),
    }
}
