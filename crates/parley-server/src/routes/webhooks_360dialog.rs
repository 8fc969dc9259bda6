//! `/webhooks/360dialog/{key}`: where 360dialog posts a number's webhooks (Meta's Cloud API
//! JSON). 360dialog does not sign like Meta: the key in the path picks the channel, and the post
//! must carry the channel's token in `x-parley-webhook-token` (Parley registers both with
//! 360dialog: `POST /channels/{id}/webhook/register`), plus 360dialog's partner signature when
//! the channel has a partner secret. Both are checked before anything is parsed; the events are
//! applied like Meta's, and the answer comes only after the commit (360dialog retries for up to
//! seven days until it gets a 2xx).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use parley_core::channel::{Channel, Provider};
use parley_core::message::InboundEvent;
use parley_providers::dialog360::{SIGNATURE_HEADER, WEBHOOK_TOKEN_HEADER, verify_webhook};
use parley_providers::meta::webhook;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::webhooks::{WEBHOOK_BODY_LIMIT, live_channel, webhook_body};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::ingest::Batch;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive)).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// Receive a 360dialog webhook (Meta's JSON, with the channel's token header).
#[utoipa::path(post, path = "/webhooks/360dialog/{key}", tag = "webhooks", params(("key" = String, Path)),
    request_body(content = String, description = "Meta's webhook JSON, with x-parley-webhook-token", content_type = "application/json"),
    responses((status = 200, description = "stored"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let body = webhook_body(body)?;
    let (channel, secrets) = live_channel(&state, &key).await?;
    if channel.provider != Provider::Dialog360 {
        // Another provider's key on 360dialog's path: as unknown as a wrong key.
        return Err(ApiError::not_found());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify_webhook(
        &secrets.verify_token,
        &secrets.app_secret,
        &body,
        header(WEBHOOK_TOKEN_HEADER),
        header(SIGNATURE_HEADER),
    )
    .map_err(|refused| ApiError::unauthorized(&refused.to_string()))?;
    let parsed = webhook::parse(&body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut events = Vec::with_capacity(parsed.event_count());
    for change in parsed.changes {
        // A 360dialog webhook is one number's: its changes, and its account's (templates,
        // limits). Anything else is acknowledged and recorded, never written into this number.
        let ours = match &change.phone_number_id {
            Some(pnid) => *pnid == channel.phone_number_id,
            None => change.waba_id.is_empty() || change.waba_id == channel.waba_id,
        };
        if ours {
            events.extend(change.events.into_iter().map(|event| (channel.clone(), event)));
        } else {
            events.push((channel.clone(), unroutable(&channel, &change)));
        }
    }
    let count = events.len();
    let outcome = state.ingest.apply(Batch { events, journal_id: None }).await?;
    tracing::debug!(channel = channel.id.get(), events = count, "360dialog webhook stored");
    Ok(Json(json!({"stored": count, "messages_in_commit": outcome.messages})))
}

fn unroutable(channel: &Arc<Channel>, change: &webhook::Change) -> InboundEvent {
    let value = json!({"phone_number_id": change.phone_number_id, "waba_id": change.waba_id, "field": change.field,
        "events": change.events.len(), "provider": channel.provider.as_str()});
    InboundEvent::Other { field: "webhook.unroutable".into(), value }
}
