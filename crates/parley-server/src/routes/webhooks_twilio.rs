//! `/webhooks/twilio/{key}`: where Twilio posts a channel's inbound messages and status
//! callbacks (configure it as the number's "when a message comes in" URL and as the status
//! callback). The key picks the channel; `X-Twilio-Signature` is checked on the raw body before
//! anything is parsed (`parley_providers::twilio::signature`), against the URL Twilio signed:
//! the server's `public_url` followed by the path and query as received, so `public_url` must
//! be what Twilio calls. The events are applied like Meta's, and the answer (an empty TwiML
//! response: Twilio reads the answer as instructions) comes only after the commit.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::channel::Provider;
use parley_core::message::InboundEvent;
use parley_providers::twilio::{signature, webhook};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::webhooks::{WEBHOOK_BODY_LIMIT, live_channel, webhook_body};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::ingest::Batch;
use crate::state::AppState;

/// Twilio's answer to a webhook: nothing to do.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive)).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
}

/// Receive a Twilio webhook: an inbound message or a status callback (form-encoded, signed).
#[utoipa::path(post, path = "/webhooks/twilio/{key}", tag = "webhooks", params(("key" = String, Path)),
    request_body(content = String, description = "Twilio's form post, signed in X-Twilio-Signature",
        content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "stored; an empty TwiML answer"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = webhook_body(body)?;
    let (channel, secrets) = live_channel(&state, &key).await?;
    if channel.provider != Provider::Twilio {
        // Another provider's key on Twilio's path: as unknown as a wrong key.
        return Err(ApiError::not_found());
    }
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", state.public_url.trim_end_matches('/'));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let is_json = header(header::CONTENT_TYPE.as_str()).is_some_and(|t| t.starts_with("application/json"));
    let signed = if is_json { signature::Body::Json(&body) } else { signature::Body::Form(&body) };
    signature::verify(&secrets.app_secret, &url, signed, header(signature::HEADER), header(signature::SETTINGS_HEADER))
        .map_err(|refused| ApiError::unauthorized(&format!("X-Twilio-Signature: {refused}")))?;
    if is_json {
        return Err(ApiError::bad_request("Twilio's WhatsApp webhooks are form posts"));
    }
    let to = webhook::addressee(&body);
    let events = if to.account_sid.as_ref().is_some_and(|a| *a != channel.waba_id)
        || to.number.as_ref().is_some_and(|n| *n != channel.phone_number_id)
    {
        // Signed by the account but for another sender (a URL shared by several numbers):
        // acknowledged (Twilio does not retry) and recorded on this channel, never written into
        // its conversations, as Meta's unroutable changes are.
        let value = serde_json::json!({"account_sid": to.account_sid, "number": to.number, "provider": "twilio"});
        vec![InboundEvent::Other { field: "webhook.unroutable".into(), value }]
    } else {
        webhook::parse(&body, state.clock.now()).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let count = events.len();
    state
        .ingest
        .apply(Batch { events: events.into_iter().map(|e| (channel.clone(), e)).collect(), journal_id: None })
        .await?;
    tracing::debug!(channel = channel.id.get(), events = count, "twilio webhook stored");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response())
}
