//! A fake of Google's endpoints a Dialogflow bot calls: the OAuth token endpoint (it checks the
//! service account's RS256 JWT like Google does: signature, key id, issuer, audience, expiry,
//! scope) and `detectIntent` in both editions (ES v2, CX v3), answering as a small shop's agent
//! in English, French or Vietnamese. The key pair in this folder was made for the sandbox and
//! protects nothing: [`service_account_key`] hands the key file out so the demo and the tests can
//! point a bot at the sandbox.
//!
//! The agent's intents: opening hours, an order's status, a refund request (CX adds a
//! `liveAgentHandoff` to it), a welcome, and the fallback.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Inner;

const PRIVATE_KEY: &str = include_str!("sandbox_key.pem");
const PUBLIC_KEY: &str = include_str!("sandbox_key.pub.pem");
/// The sandbox's only project and service account.
pub const PROJECT: &str = "parley-sandbox";
pub const CLIENT_EMAIL: &str = "parley-bot@parley-sandbox.iam.gserviceaccount.com";
const KEY_ID: &str = "sandbox-key-1";
const TOKEN_PATH: &str = "/google/oauth2/token";

/// One `detectIntent` call, as the agent heard it (failed ones too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DialogflowQuery {
    /// `es` or `cx`.
    pub edition: String,
    pub location: String,
    pub agent: Option<String>,
    pub session: String,
    pub text: String,
    pub language: String,
}

#[derive(Default)]
pub(crate) struct Fake {
    tokens: HashSet<String>,
    queries: Vec<DialogflowQuery>,
    /// How many more `detectIntent` calls answer 503.
    failures: u32,
    /// How long each `detectIntent` call takes.
    latency: std::time::Duration,
}

/// The key file of the sandbox's service account, its token URI at `base_url`.
pub(crate) fn service_account_key(base_url: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": KEY_ID,
        "private_key": PRIVATE_KEY,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "token_uri": format!("{base_url}{TOKEN_PATH}"),
    })
}

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route("/sandbox/dialogflow/service-account", get(key_file))
        .route("/v2/projects/{project}/agent/sessions/{session}", post(es_global))
        .route("/v2/projects/{project}/locations/{location}/agent/sessions/{session}", post(es_regional))
        .route("/v3/projects/{project}/locations/{location}/agents/{agent}/sessions/{session}", post(cx))
}

impl Inner {
    pub(crate) fn dialogflow_queries(&self) -> Vec<DialogflowQuery> {
        self.dialogflow.lock().expect("dialogflow").queries.clone()
    }

    pub(crate) fn fail_dialogflow(&self, times: u32) {
        self.dialogflow.lock().expect("dialogflow").failures = times;
    }

    pub(crate) fn slow_dialogflow(&self, latency: std::time::Duration) {
        self.dialogflow.lock().expect("dialogflow").latency = latency;
    }

    /// Waits as long as a `detectIntent` call takes.
    async fn dialogflow_latency(&self) {
        let latency = self.dialogflow.lock().expect("dialogflow").latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

async fn key_file(State(inner): State<Arc<Inner>>) -> Json<Value> {
    Json(service_account_key(&inner.base_url))
}

/// Google's error shape.
fn google_error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"code": status.as_u16(), "message": message, "status": name}}))).into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    assertion: String,
}

#[derive(Deserialize)]
struct Claims {
    scope: String,
}

/// `POST <token_uri>`: a signed JWT for an access token.
async fn token(State(inner): State<Arc<Inner>>, Form(request): Form<TokenRequest>) -> Response {
    let refuse = |why: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": why}))).into_response()
    };
    if request.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    let Ok(header) = jsonwebtoken::decode_header(&request.assertion) else { return refuse("Invalid JWT.") };
    if header.kid.as_deref() != Some(KEY_ID) || header.alg != Algorithm::RS256 {
        return refuse("Invalid JWT Signature.");
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}{TOKEN_PATH}", inner.base_url)]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let key = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("the sandbox's public key");
    let claims = match jsonwebtoken::decode::<Claims>(&request.assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return refuse(&format!("Invalid JWT: {e}")),
    };
    if !claims.scope.split(' ').any(|s| s.ends_with("/auth/dialogflow") || s.ends_with("/auth/cloud-platform")) {
        return refuse("Invalid scope.");
    }
    let access_token = format!("ya29.sandbox-{}", inner.message_id().trim_start_matches("wamid."));
    inner.dialogflow.lock().expect("dialogflow").tokens.insert(access_token.clone());
    Json(json!({"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

async fn es_global(
    State(inner): State<Arc<Inner>>,
    Path((project, session)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let answer = detect(&inner, &headers, "es", &project, "global", None, &session, &body);
    inner.dialogflow_latency().await;
    answer
}

async fn es_regional(
    State(inner): State<Arc<Inner>>,
    Path((project, location, session)): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let answer = detect(&inner, &headers, "es", &project, &location, None, &session, &body);
    inner.dialogflow_latency().await;
    answer
}

async fn cx(
    State(inner): State<Arc<Inner>>,
    Path((project, location, agent, session)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let answer = detect(&inner, &headers, "cx", &project, &location, Some(agent), &session, &body);
    inner.dialogflow_latency().await;
    answer
}

#[allow(clippy::too_many_arguments)]
fn detect(
    inner: &Inner,
    headers: &HeaderMap,
    edition: &str,
    project: &str,
    location: &str,
    agent: Option<String>,
    session: &str,
    body: &Value,
) -> Response {
    let Some(session) = session.strip_suffix(":detectIntent") else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found.");
    };
    let mut fake = inner.dialogflow.lock().expect("dialogflow");
    if crate::graph::bearer(headers).is_none_or(|t| !fake.tokens.contains(t)) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if project != PROJECT {
        return google_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            &format!("Permission 'dialogflow.sessions.detectIntent' denied on project {project}."),
        );
    }
    let input = &body["queryInput"];
    let (text, language) = match edition {
        "es" => (input.pointer("/text/text"), input.pointer("/text/languageCode")),
        _ => (input.pointer("/text/text"), input.get("languageCode")),
    };
    let (Some(text), Some(language)) = (text.and_then(Value::as_str), language.and_then(Value::as_str)) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Query input text and language are required.",
        );
    };
    fake.queries.push(DialogflowQuery {
        edition: edition.to_owned(),
        location: location.to_owned(),
        agent,
        session: session.to_owned(),
        text: text.to_owned(),
        language: language.to_owned(),
    });
    if fake.failures > 0 {
        fake.failures -= 1;
        return google_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "The service is currently unavailable.");
    }
    drop(fake);
    let intent = match_intent(text);
    let answer = intent.answer(language);
    let intent_json =
        json!({"name": format!("projects/{PROJECT}/agent/intents/{}", intent.id), "displayName": intent.name});
    let result = if edition == "es" {
        json!({"queryText": text, "languageCode": language, "intent": intent_json,
            "intentDetectionConfidence": 0.9, "fulfillmentText": answer,
            "fulfillmentMessages": [{"text": {"text": [answer]}}]})
    } else {
        let mut messages = vec![json!({"text": {"text": [answer]}})];
        if intent.handoff {
            messages.push(json!({"liveAgentHandoff": {"metadata": {}}}));
        }
        json!({"text": text, "languageCode": language, "responseMessages": messages,
            "match": {"intent": intent_json, "matchType": if intent.id == "fallback" { "NO_MATCH" } else { "INTENT" },
                "confidence": 0.9},
            "currentPage": {"displayName": "Start Page"}})
    };
    Json(json!({"responseId": format!("sandbox-{session}"), "queryResult": result})).into_response()
}

struct Intent {
    id: &'static str,
    name: &'static str,
    words: &'static [&'static str],
    /// English, French, Vietnamese.
    answers: [&'static str; 3],
    handoff: bool,
}

const INTENTS: &[Intent] = &[
    Intent {
        id: "hours",
        name: "opening.hours",
        words: &["hours", "open", "horaires", "ouvert", "mở cửa"],
        answers: [
            "We are open Monday to Saturday, 9:00 to 18:00.",
            "Nous sommes ouverts du lundi au samedi, de 9 h à 18 h.",
            "Chúng tôi mở cửa từ thứ Hai đến thứ Bảy, 9:00 đến 18:00.",
        ],
        handoff: false,
    },
    Intent {
        id: "order",
        name: "order.status",
        words: &["order", "commande", "đơn hàng"],
        answers: [
            "Your order has left our warehouse and arrives within two days.",
            "Votre commande a quitté notre entrepôt et arrive sous deux jours.",
            "Đơn hàng của bạn đã rời kho và sẽ đến trong hai ngày.",
        ],
        handoff: false,
    },
    Intent {
        id: "refund",
        name: "refund.request",
        words: &["refund", "rembourser", "remboursement", "hoàn tiền"],
        answers: [
            "I am passing you to a colleague who handles refunds.",
            "Je vous passe un collègue qui s\u{2019}occupe des remboursements.",
            "Tôi sẽ chuyển bạn cho đồng nghiệp phụ trách hoàn tiền.",
        ],
        handoff: true,
    },
    Intent {
        id: "welcome",
        name: "Default Welcome Intent",
        words: &["hello", "hi", "bonjour", "salut", "xin chào", "chào"],
        answers: [
            "Hello! I am the shop's assistant. Ask me about our opening hours or your order.",
            "Bonjour ! Je suis l\u{2019}assistant de la boutique. Demandez-moi nos horaires ou votre commande.",
            "Xin chào! Tôi là trợ lý của cửa hàng. Hãy hỏi tôi về giờ mở cửa hoặc đơn hàng của bạn.",
        ],
        handoff: false,
    },
];

const FALLBACK: Intent = Intent {
    id: "fallback",
    name: "Default Fallback Intent",
    words: &[],
    answers: [
        "Sorry, I did not understand. Could you say it another way?",
        "Désolé, je n\u{2019}ai pas compris. Pouvez-vous le dire autrement ?",
        "Xin lỗi, tôi chưa hiểu. Bạn có thể nói cách khác không?",
    ],
    handoff: false,
};

impl Intent {
    fn answer(&self, language: &str) -> &'static str {
        match language.split('-').next().unwrap_or_default() {
            "fr" => self.answers[1],
            "vi" => self.answers[2],
            _ => self.answers[0],
        }
    }
}

/// The first intent one of whose words the text holds (whole words, any case); a greeting only
/// when nothing more precise was asked.
fn match_intent(text: &str) -> &'static Intent {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let holds = |phrase: &str| {
        let phrase: Vec<&str> = phrase.split(' ').collect();
        words.windows(phrase.len()).any(|w| w == phrase.as_slice())
    };
    INTENTS.iter().find(|i| i.words.iter().any(|w| holds(w))).unwrap_or(&FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_agent_matches_whole_words_in_three_languages() {
        assert_eq!(match_intent("Hello there").id, "welcome");
        assert_eq!(match_intent("Xin chào, cửa hàng mở cửa lúc mấy giờ?").id, "hours");
        assert_eq!(match_intent("Bonjour, ma commande n'est pas arrivée.").id, "order");
        assert_eq!(match_intent("Vous êtes ouvert demain ?").id, "hours");
        assert_eq!(match_intent("đơn hàng của tôi đâu").id, "order");
        assert_eq!(match_intent("I want a REFUND").id, "refund");
        assert_eq!(match_intent("ordering pizza").id, "fallback", "order is not ordering");
        assert_eq!(FALLBACK.answer("vi-VN"), FALLBACK.answers[2]);
    }
}
