//! The Graph endpoints of template management (spec §7.1): list, create, get one, edit, delete
//! and unpause. Each is authorised by the access token of any registered number of the
//! template's account (WABA), else 401 / 190, like a token without access to it. Also the review
//! scheduling and the template methods of `Sandbox` (the rules are in `templates.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::graph::{GraphError, bearer, select_fields};
use crate::templates::{Decision, ReviewMode, ReviewPolicy, Template};
use crate::{ControlError, Inner, Item, Sandbox, SandboxTemplate};

/// Whether the bearer token belongs to a number of this WABA.
fn waba_token_ok(inner: &Inner, headers: &HeaderMap, waba: &str) -> bool {
    let Some(token) = bearer(headers) else { return false };
    inner.numbers.lock().expect("numbers").values().any(|n| n.waba_id == waba && n.access_token == token)
}

/// The template id and its WABA, when `id` is a template's.
fn template_of(inner: &Inner, id: &str) -> Option<(u64, String)> {
    let id: u64 = id.parse().ok()?;
    inner.templates.lock().expect("templates").by_id(id).map(|t| (id, t.waba_id.clone()))
}

fn json_body(body: &Bytes) -> Result<Value, GraphError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| GraphError::invalid("Invalid parameter: the body is not a JSON object"))
}

fn success() -> Response {
    Json(json!({"success": true})).into_response()
}

/// `GET /<version>/<WABA_ID>/message_templates[?name=…&status=…&language=…&fields=…]`.
pub(crate) async fn list(
    State(inner): State<Arc<Inner>>,
    Path((_version, waba)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !waba_token_ok(&inner, &headers, &waba) {
        return GraphError::unauthorized().into_response();
    }
    let matches = |key: &str, value: &str| params.get(key).is_none_or(|want| want.eq_ignore_ascii_case(value));
    let data: Vec<Value> = inner
        .templates
        .lock()
        .expect("templates")
        .of(&waba)
        .filter(|t| matches("name", &t.name) && matches("status", &t.status) && matches("language", &t.language))
        .map(|t| select_fields(t.json(), &params))
        .collect();
    Json(json!({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})).into_response()
}

/// `POST /<version>/<WABA_ID>/message_templates`: `{"id", "status": "PENDING", "category"}`,
/// then the review runs under the sandbox's policy.
pub(crate) async fn create(
    State(inner): State<Arc<Inner>>,
    Path((_version, waba)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !waba_token_ok(&inner, &headers, &waba) {
        return GraphError::unauthorized().into_response();
    }
    create_in(&inner, &waba, &body)
}

/// Creates a template of `waba` from Meta's body and schedules its review; Meta's answer
/// (the caller checked who asks: Meta's API or 360dialog's).
pub(crate) fn create_in(inner: &Arc<Inner>, waba: &str, body: &Bytes) -> Response {
    let body = match json_body(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = inner.clock.now().as_secs();
    let id = inner.template_id();
    let created = inner
        .templates
        .lock()
        .expect("templates")
        .create(waba, &body, id, now)
        .map(|t| json!({"id": t.id.to_string(), "status": t.status, "category": t.category}));
    match created {
        Ok(answer) => {
            inner.schedule_review(id);
            Json(answer).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /<version>/<TEMPLATE_ID>[?fields=…]`; `None` when `id` is no template's.
pub(crate) fn get_template(
    inner: &Inner,
    id: &str,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Option<Response> {
    let (id, waba) = template_of(inner, id)?;
    if !waba_token_ok(inner, headers, &waba) {
        return Some(GraphError::unauthorized().into_response());
    }
    let object = inner.templates.lock().expect("templates").by_id(id).map(|t| t.json())?;
    Some(Json(select_fields(object, params)).into_response())
}

/// `POST /<version>/<TEMPLATE_ID>`: an edit (components, category, TTL); back to review.
pub(crate) async fn edit(
    State(inner): State<Arc<Inner>>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // `POST /<version>/<id>` is also where a resumable upload's bytes go.
    if id.starts_with("upload:") {
        return crate::resumable::send(&inner, &id, &headers, &body).await;
    }
    let Some((id, waba)) = template_of(&inner, &id) else { return GraphError::no_object().into_response() };
    if !waba_token_ok(&inner, &headers, &waba) {
        return GraphError::unauthorized().into_response();
    }
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = inner.clock.now().as_secs();
    let edited = inner.templates.lock().expect("templates").edit(id, &body, now);
    match edited {
        Ok(()) => {
            inner.schedule_review(id);
            success()
        }
        Err(e) => e.into_response(),
    }
}

/// `DELETE /<version>/<WABA_ID>/message_templates?name=…[&hsm_id=…]`.
pub(crate) async fn delete(
    State(inner): State<Arc<Inner>>,
    Path((_version, waba)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !waba_token_ok(&inner, &headers, &waba) {
        return GraphError::unauthorized().into_response();
    }
    let Some(name) = params.get("name").filter(|n| !n.is_empty()) else {
        return GraphError::invalid("Invalid parameter: name is required").into_response();
    };
    let hsm_id = match params.get("hsm_id").map(|id| id.parse::<u64>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return GraphError::invalid("Invalid parameter: hsm_id").into_response(),
    };
    let now = inner.clock.now().as_secs();
    let deleted = inner.templates.lock().expect("templates").delete(&waba, name, hsm_id, now);
    match deleted {
        Ok(items) => {
            inner.emit(items);
            success()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /<version>/<TEMPLATE_ID>/unpause`.
pub(crate) async fn unpause(
    State(inner): State<Arc<Inner>>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some((id, waba)) = template_of(&inner, &id) else { return GraphError::no_object().into_response() };
    if !waba_token_ok(&inner, &headers, &waba) {
        return GraphError::unauthorized().into_response();
    }
    let now = inner.clock.now().as_secs();
    let unpaused = inner.templates.lock().expect("templates").unpause(id, now);
    match unpaused {
        Ok(items) => {
            inner.emit(items);
            success()
        }
        Err(e) => e.into_response(),
    }
}

impl Inner {
    /// Schedules the review of a new submission under the current policy (nothing when manual).
    pub(crate) fn schedule_review(self: &Arc<Self>, id: u64) {
        let (policy, submission) = {
            let book = self.templates.lock().expect("templates");
            (book.policy.clone(), book.by_id(id).map(|t| t.submission))
        };
        let Some(submission) = submission else { return };
        if policy.mode == ReviewMode::Manual {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if !policy.delay.is_zero() {
                tokio::time::sleep(policy.delay).await;
            }
            let items = {
                let mut book = me.templates.lock().expect("templates");
                let Some(t) = book.by_id(id) else { return };
                let decision = match policy.mode {
                    ReviewMode::Approve if t.name.contains("reject") => Decision::Reject("INVALID_FORMAT".into()),
                    ReviewMode::Approve => Decision::Approve,
                    ReviewMode::Reject { reason } => Decision::Reject(reason),
                    ReviewMode::Manual => return,
                };
                // Edited or deleted meanwhile: that submission is no longer the one to decide.
                book.decide(id, Some(submission), decision).unwrap_or_default()
            };
            me.emit(items);
        });
    }

    pub(crate) fn review_template(&self, key: (&str, &str, &str), decision: Decision) -> Result<(), ControlError> {
        let items = {
            let mut book = self.templates.lock().expect("templates");
            let id = book.find_mut(key.0, key.1, key.2)?.id;
            book.decide(id, None, decision)?
        };
        self.emit(items);
        Ok(())
    }

    pub(crate) fn set_template_quality(&self, key: (&str, &str, &str), score: &str) -> Result<(), ControlError> {
        let now = self.clock.now().as_secs();
        let items = self.templates.lock().expect("templates").set_quality(key, score, now)?;
        self.emit(items);
        Ok(())
    }

    pub(crate) fn recategorize(&self, key: (&str, &str, &str), new_category: &str) -> Result<(), ControlError> {
        let items = self.templates.lock().expect("templates").recategorize(key, new_category)?;
        self.emit(items);
        Ok(())
    }

    pub(crate) fn tick_templates(&self) -> Vec<Item> {
        let now = self.clock.now().as_secs();
        self.templates.lock().expect("templates").tick(now)
    }
}

impl Sandbox {
    /// How Meta's review decides from now on (submissions already scheduled keep theirs).
    pub fn set_review_policy(&self, policy: ReviewPolicy) {
        self.inner.templates.lock().expect("templates").policy = policy;
    }

    /// Decides a PENDING template by hand (any review mode) and emits the status webhook.
    pub fn review_template(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        decision: Decision,
    ) -> Result<(), ControlError> {
        self.inner.review_template((waba_id, name, language), decision)
    }

    /// Sets a template's quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`) and emits
    /// `message_template_quality_update`; RED on an approved template pauses or disables it.
    pub fn set_template_quality(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        score: &str,
    ) -> Result<(), ControlError> {
        self.inner.set_template_quality((waba_id, name, language), score)
    }

    /// Meta moves a template to another category; emits `template_category_update`.
    pub fn recategorize(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        new_category: &str,
    ) -> Result<(), ControlError> {
        self.inner.recategorize((waba_id, name, language), new_category)
    }

    /// A template as it stands now (status, category, components).
    pub fn template(&self, waba_id: &str, name: &str, language: &str) -> Option<SandboxTemplate> {
        self.inner.templates.lock().expect("templates").find(waba_id, name, language).map(Template::as_sandbox_template)
    }
}
