//! The HTTP control API of templates, numbers and tiers, for `parley sandbox` users and the demo
//! (what tests do with `Sandbox` methods). JSON in, JSON out: unknown templates or numbers are
//! 404 `{"error": "…"}`, bad input 400 `{"error": "…"}`, success 200 `{"ok": true}`.
//!
//! - `POST /sandbox/templates/review` `{waba_id, name, language, decision: "approve"|"reject", reason?}`
//! - `POST /sandbox/templates/quality` `{waba_id, name, language, score}`
//! - `POST /sandbox/templates/category` `{waba_id, name, language, category}`
//! - `POST /sandbox/numbers/{pnid}/quality` `{quality}`, `…/status` `{status}`, `…/tier` `{tier}`
//!   (the tier of the rules in force: the number's WABA's, or under the 2023 rules its own)
//! - `POST /sandbox/tick`
//! - `POST /sandbox/limit-rules` `{rules: "current"|"legacy_2023"}`
//! - `POST /sandbox/review-policy` `{mode: "approve"|"reject"|"manual", reason?, delay_ms?}`

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{ControlError, Decision, Inner, LimitRules, ReviewMode, ReviewPolicy};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/sandbox/templates/review", post(review))
        .route("/sandbox/templates/quality", post(template_quality))
        .route("/sandbox/templates/category", post(template_category))
        .route("/sandbox/numbers/{pnid}/quality", post(number_quality))
        .route("/sandbox/numbers/{pnid}/status", post(number_status))
        .route("/sandbox/numbers/{pnid}/tier", post(number_tier))
        .route("/sandbox/tick", post(tick))
        .route("/sandbox/limit-rules", post(limit_rules))
        .route("/sandbox/review-policy", post(review_policy))
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

/// The body as `T`, or what is wrong with it (answered as JSON: axum's own rejection is text).
fn input<T: DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad JSON body: {e}"))
}

fn answer(result: Result<(), ControlError>) -> Response {
    match result {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e @ ControlError::NotFound(_)) => error(StatusCode::NOT_FOUND, e),
        Err(e @ ControlError::Invalid(_)) => error(StatusCode::BAD_REQUEST, e),
    }
}

/// Unwraps an `input` result, answering its error with a 400.
macro_rules! body {
    ($body:expr) => {
        match input($body) {
            Ok(v) => v,
            Err(why) => return error(StatusCode::BAD_REQUEST, why),
        }
    };
}

#[derive(Deserialize)]
struct ReviewInput {
    waba_id: String,
    name: String,
    language: String,
    decision: String,
    reason: Option<String>,
}

async fn review(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let i: ReviewInput = body!(&body);
    let decision = match i.decision.to_ascii_lowercase().as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject(i.reason.unwrap_or_else(|| "INVALID_FORMAT".into())),
        other => return error(StatusCode::BAD_REQUEST, format!("decision {other}: approve or reject")),
    };
    answer(inner.review_template((&i.waba_id, &i.name, &i.language), decision))
}

#[derive(Deserialize)]
struct QualityInput {
    waba_id: String,
    name: String,
    language: String,
    score: String,
}

async fn template_quality(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let i: QualityInput = body!(&body);
    answer(inner.set_template_quality((&i.waba_id, &i.name, &i.language), &i.score))
}

#[derive(Deserialize)]
struct CategoryInput {
    waba_id: String,
    name: String,
    language: String,
    category: String,
}

async fn template_category(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let i: CategoryInput = body!(&body);
    answer(inner.recategorize((&i.waba_id, &i.name, &i.language), &i.category))
}

#[derive(Deserialize)]
struct NumberQualityInput {
    quality: String,
}

async fn number_quality(State(inner): State<Arc<Inner>>, Path(pnid): Path<String>, body: Bytes) -> Response {
    let i: NumberQualityInput = body!(&body);
    answer(inner.set_number_quality(&pnid, &i.quality))
}

#[derive(Deserialize)]
struct StatusInput {
    status: String,
}

async fn number_status(State(inner): State<Arc<Inner>>, Path(pnid): Path<String>, body: Bytes) -> Response {
    let i: StatusInput = body!(&body);
    answer(inner.set_number_status(&pnid, &i.status))
}

#[derive(Deserialize)]
struct TierInput {
    tier: String,
}

async fn number_tier(State(inner): State<Arc<Inner>>, Path(pnid): Path<String>, body: Bytes) -> Response {
    let i: TierInput = body!(&body);
    answer(inner.set_tier_by_rules(&pnid, &i.tier))
}

async fn tick(State(inner): State<Arc<Inner>>) -> Response {
    inner.tick();
    answer(Ok(()))
}

#[derive(Deserialize)]
struct RulesInput {
    rules: String,
}

async fn limit_rules(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let i: RulesInput = body!(&body);
    let rules = match i.rules.to_ascii_lowercase().as_str() {
        "current" => LimitRules::Current,
        "legacy_2023" => LimitRules::Legacy2023,
        other => return error(StatusCode::BAD_REQUEST, format!("rules {other}: current or legacy_2023")),
    };
    inner.set_limit_rules(rules);
    answer(Ok(()))
}

#[derive(Deserialize)]
struct PolicyInput {
    mode: String,
    reason: Option<String>,
    #[serde(default)]
    delay_ms: u64,
}

async fn review_policy(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let i: PolicyInput = body!(&body);
    let mode = match i.mode.to_ascii_lowercase().as_str() {
        "approve" => ReviewMode::Approve,
        "reject" => ReviewMode::Reject { reason: i.reason.unwrap_or_else(|| "INVALID_FORMAT".into()) },
        "manual" => ReviewMode::Manual,
        other => return error(StatusCode::BAD_REQUEST, format!("mode {other}: approve, reject or manual")),
    };
    inner.templates.lock().expect("templates").policy = ReviewPolicy { mode, delay: Duration::from_millis(i.delay_ms) };
    answer(Ok(()))
}
