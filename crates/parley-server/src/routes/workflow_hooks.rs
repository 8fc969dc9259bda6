//! Incoming webhooks: a workflow whose trigger is `incoming_webhook` runs when its own URL is
//! called. The URL carries a random token (32 bytes, sealed at rest, compared in constant
//! time), shown to owners and managers and replaced on demand; every refusal — unknown workflow,
//! wrong token, inactive, another trigger — answers the same 404, so the URL tells nothing to
//! whoever guesses. The JSON body (at most 64 KiB) names the contact by phone (made when new,
//! in E.164 with the workspace's region), fills its name (when it has none) and fields, and
//! starts a run on its conversation on the trigger's number; with `Idempotency-Key`, a call
//! repeated with the same key starts nothing new.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use parley_core::contact::{ContactPatch, ContactPatchInput, ContactRef, NewContact};
use parley_core::ids::{ChannelId, ContactId, WorkspaceId};
use parley_core::phone::{normalize, parse_region};
use parley_core::workflow::{Definition, Memory, Trigger, parse};
use parley_store::{StoreError, Viewer, Workflow};
use serde::Serialize;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, PathId};
use crate::state::AppState;

const BODY_LIMIT: usize = 64 * 1024;

/// `/api/v1/workflows/{id}/webhook`: the URL, for owners and managers.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show)).routes(routes!(rotate))
}

/// `/hooks/workflows/{id}/{token}`: the calls, without a session.
pub fn hooks_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive)).layer(DefaultBodyLimit::max(BODY_LIMIT))
}

#[derive(Serialize, ToSchema)]
pub struct HookUrl {
    /// The path to call with `POST` on this server (prefix it with the server's public address).
    path: String,
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such webhook")
}

/// The workflow's token in clear, made (and sealed) when it has none or `fresh` is asked.
async fn token(state: &AppState, w: &Workflow, fresh: bool) -> ApiResult<String> {
    if !fresh && let Some(sealed) = &w.hook_secret {
        let plain = state.secrets.open(sealed).map_err(|_| ApiError::internal())?;
        return String::from_utf8(plain).map_err(|_| ApiError::internal());
    }
    let token = B64.encode(rand::random::<[u8; 32]>());
    state.store.set_hook_secret(w.workspace_id, w.id, Some(&state.secrets.seal(token.as_bytes()))).await?;
    Ok(token)
}

async fn hook_url(state: &AppState, auth: &Auth, id: i64, fresh: bool) -> ApiResult<Json<HookUrl>> {
    auth.require_admin()?;
    let w = state.store.workflow(auth.workspace_id, id).await?;
    let token = token(state, &w, fresh).await?;
    Ok(Json(HookUrl { path: format!("/hooks/workflows/{id}/{token}") }))
}

/// The workflow's incoming-webhook URL (made on first ask).
#[utoipa::path(get, path = "/workflows/{id}/webhook", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = HookUrl), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn show(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<HookUrl>> {
    hook_url(&state, &auth, id, false).await
}

/// Replaces the URL's token: the old URL stops working at once.
#[utoipa::path(post, path = "/workflows/{id}/webhook/rotate", tag = "workflows", params(("id" = i64, Path)),
    responses((status = 200, body = HookUrl), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rotate(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
) -> ApiResult<Json<HookUrl>> {
    hook_url(&state, &auth, id, true).await
}

/// The workflow a call names, if the token is its own and it listens.
async fn listening(state: &AppState, id: i64, given: &str) -> ApiResult<(Workflow, Definition)> {
    let w = match state.store.workflow_by_id(id).await {
        Ok(w) => Some(w),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    // A workflow unknown or without a URL takes the same work as a wrong token (a sealed token
    // opened and compared): how long the answer takes tells nothing either.
    let sealed = w.as_ref().and_then(|w| w.hook_secret.as_deref());
    let expected = match sealed {
        Some(sealed) => Some(state.secrets.open(sealed).map_err(|_| ApiError::internal())?),
        None => {
            static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let decoy = DECOY.get_or_init(|| state.secrets.seal(&[0; 43]));
            let _ = state.secrets.open(decoy).map(|plain| plain.ct_eq(given.as_bytes()));
            None
        }
    };
    let (Some(w), Some(expected)) = (w, expected) else { return Err(not_found()) };
    if !bool::from(expected.as_slice().ct_eq(given.as_bytes())) || !w.active || w.version == 0 {
        return Err(not_found());
    }
    let text = state.store.workflow_version(w.workspace_id, w.id, w.version).await?;
    let definition = serde_json::from_str::<Value>(&text).ok().and_then(|v| parse(&v).ok()).ok_or_else(not_found)?;
    if !matches!(definition.trigger, Trigger::IncomingWebhook { .. }) {
        return Err(not_found());
    }
    Ok((w, definition))
}

fn unprocessable(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The contact the body names, made when new, with its name and fields filled.
async fn contact_of(state: &AppState, ws: WorkspaceId, trigger: &Trigger, body: &Value) -> ApiResult<ContactId> {
    let Trigger::IncomingWebhook { phone, name, fields, .. } = trigger else { return Err(not_found()) };
    let text = |pointer: &str| {
        body.pointer(pointer).and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    };
    let region = state.store.workspace(ws).await?.default_region.as_deref().and_then(parse_region);
    let raw = text(phone).ok_or_else(|| unprocessable("no_phone", format!("the body has no phone at {phone}")))?;
    let e164 = normalize(&raw, region).map_err(|e| unprocessable("invalid_phone", format!("{raw:?}: {e}")))?;
    let now = state.clock.now();
    let contact = match state.store.contact(ws, &ContactRef::Phone(e164.clone())).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => {
            let new = NewContact { phone: Some(e164), ..NewContact::default() };
            state.store.create_contact(ws, new, now).await?
        }
        Err(e) => return Err(e.into()),
    };
    let mut values = Map::new();
    for (key, pointer) in fields {
        if let Some(v) = text(pointer) {
            values.insert(key.clone(), Value::String(v));
        }
    }
    let new_name = name.as_deref().and_then(text).filter(|_| contact.name.is_none());
    if !values.is_empty() || new_name.is_some() {
        let input = ContactPatchInput {
            fields: (!values.is_empty()).then_some(values),
            name: new_name.map(Some),
            ..ContactPatchInput::default()
        };
        let patch = ContactPatch::from_input(input, region)?;
        state.store.update_contact(ws, &ContactRef::Id(contact.id), &patch, now).await?;
    }
    Ok(contact.id)
}

/// Starts the workflow (its URL is its credential: no session).
#[utoipa::path(post, path = "/hooks/workflows/{id}/{token}", tag = "workflows",
    params(("id" = i64, Path), ("token" = String, Path)),
    request_body(content = String, description = "a JSON object, at most 64 KiB", content_type = "application/json"),
    responses((status = 202, description = "started: `{\"run_id\"}`"),
        (status = 200, description = "nothing started: `{\"run_id\": null, \"why\"}` (conditions, a repeated key)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_running` on the conversation"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(PathId, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (PathId(id), given) = path;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is larger than 64 KiB")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the body could not be read")
        }
    })?;
    let (w, definition) = listening(&state, id, &given).await?;
    let body: Value = serde_json::from_slice(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "the body is not a JSON object"))?;
    let Trigger::IncomingWebhook { channel_id, .. } = &definition.trigger else { return Err(not_found()) };
    let channel =
        state.store.channel(w.workspace_id, ChannelId(*channel_id), Viewer::All).await.map_err(|e| match e {
            StoreError::NotFound => unprocessable("no_channel", format!("the workflow's number {channel_id} is gone")),
            other => other.into(),
        })?;
    let contact = contact_of(&state, w.workspace_id, &definition.trigger, &body).await?;
    let conversation = state.store.channel_conversation(w.workspace_id, channel.id, contact).await?;
    let now = state.clock.now();
    if let Some(c) = conversation
        && state.store.conversation_runs(w.id, c, now).await?.0
    {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_running", "the workflow runs on this conversation"));
    }
    let payload = json!({"body": body, "contact_id": contact.get(), "channel_id": channel_id});
    let seen = crate::workers::workflows::HookCall { contact, conversation, payload: payload.clone() };
    let Some(mut run) = crate::workers::workflows::hooked(&state, &w, &definition, seen, now).await? else {
        return Ok((StatusCode::OK, Json(json!({"run_id": null, "why": "conditions"}))));
    };
    run.memory = Memory { trigger: payload, ..Memory::default() }.to_value();
    let key = headers.get("idempotency-key").and_then(|k| k.to_str().ok()).filter(|k| !k.is_empty() && k.len() <= 200);
    run.trigger_key = key.map(|k| format!("hook:{k}"));
    let run_id = match state.store.start_run_alone(&run, now).await {
        Ok(started) => started.id,
        Err(StoreError::Conflict { field: "conversation" }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_running",
                "the workflow runs on this conversation",
            ));
        }
        // The same key again: started before.
        Err(StoreError::Conflict { .. }) => {
            return Ok((StatusCode::OK, Json(json!({"run_id": null, "why": "repeated"}))));
        }
        Err(e) => return Err(e.into()),
    };
    state.runs_wakeup.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({"run_id": run_id}))))
}
