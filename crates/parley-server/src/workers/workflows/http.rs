//! The `http_request` step at work (`parley_core::workflow::http`): the URL, headers and body
//! filled with the run's variables, the URL through the outbound guard (any public host, or the
//! server's allow-list; the client checks every resolved address and redirect again), a JSON
//! answer of at most 256 KiB whose picked values go to `vars`. A timeout, 429 or 5xx is tried
//! again (`retries`, after 1, 2, 4 s). A call that still fails goes to `on_error`, or fails the
//! run with the answer's status. The history keeps the status and the values kept, never the
//! headers (they may carry keys).

use std::time::Duration;

use axum::http::StatusCode;
use parley_core::workflow::http::{HttpCall, fill_body, pick, retryable};
use parley_core::workflow::{Memory, vars};
use parley_providers::guard::{Targets, check_url};
use parley_store::Run;
use serde_json::{Value, json};

use super::steps::{Did, Then, context, did};
use crate::AppState;
use crate::error::{ApiError, ApiResult};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ANSWER: usize = 256 * 1024;

pub(super) async fn call(state: &AppState, run: &Run, call: &HttpCall, memory: &mut Memory) -> ApiResult<Did> {
    let context = context(state, run, memory).await?;
    let url = vars::render_url(&call.url, &context);
    let url = check_url(&url, Targets::AnyPublic, &state.outbound.allow)
        .map_err(|refused| ApiError::url_not_allowed(&refused, "url"))?;
    let body = call.body.as_ref().map(|b| fill_body(b, &context));
    let method = reqwest::Method::from_bytes(call.method.as_str().as_bytes()).expect("a known method");
    let mut tries = 0;
    let (status, answer, error) = loop {
        tries += 1;
        let mut request = state.webhook_http.request(method.clone(), url.clone()).timeout(TIMEOUT);
        request = request.header(reqwest::header::USER_AGENT, "Parley-Workflows");
        for (name, value) in &call.headers {
            request = request.header(name.as_str(), vars::render(value, &context));
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let (status, answer, error) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                match read_capped(response).await {
                    Ok(bytes) => (Some(status), serde_json::from_slice::<Value>(&bytes).ok(), None),
                    Err(e) => (Some(status), None, Some(e)),
                }
            }
            Err(e) => (None, None, Some(if e.is_timeout() { "no answer in 10 s".to_owned() } else { e.to_string() })),
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s)) && error.is_none();
        if ok || tries > call.retries || !retryable(status) {
            break (status, answer, error);
        }
        tokio::time::sleep(Duration::from_secs(1 << (tries - 1))).await;
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s)) && error.is_none();
    if ok {
        let kept = pick(&call.save, answer.as_ref().unwrap_or(&Value::Null));
        memory.vars.extend(kept.clone());
        return Ok(did(json!({"status": status, "tries": tries, "kept": kept})));
    }
    let why = match (status, &error) {
        (_, Some(e)) => e.clone(),
        (Some(s), None) => format!("answered {s}"),
        (None, None) => "no answer".to_owned(),
    };
    match &call.on_error {
        Some(next) => {
            let detail = json!({"status": status, "tries": tries, "error": why, "next": next});
            Ok(Did { outcome: "failed_call", then: Some(Then::Go(Some(next.clone()))), ..did(detail) })
        }
        None => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "http_failed", format!("the call failed: {why}"))),
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err("the answer is larger than 256 KiB".to_owned());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
