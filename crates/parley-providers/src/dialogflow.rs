//! Dialogflow's REST API for bots (ES: v2, CX: v3): `sessions/<id>:detectIntent` authorised by
//! a service account. The key's JSON (as Google hands it out) is checked when an owner gives it;
//! Parley signs a JWT with its private key (RS256, `kid` = the key id), trades it at the key's
//! `token_uri` for an access token (kept until a minute before it expires) and asks the agent.
//! Every URL — the token URI, the API's host — goes through the outbound guard: Google's hosts
//! (`*.googleapis.com`) over https, or the server's allow-list (the sandbox).
//!
//! The JWT's times are the machine's real time, not the injected clock: Google compares them
//! with its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parley_core::dialogflow::{DialogflowAgent, Edition, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::guard::{AllowList, GOOGLE_HOSTS, Refused, Targets, check_url};

/// The OAuth scope Dialogflow's API asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/dialogflow";
/// Longest a token exchange or a query may take: the bot's customer is waiting.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A service account's key file, as downloaded from Google Cloud (the fields Parley uses).
#[derive(Clone, Deserialize, Serialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub project_id: Option<String>,
    pub private_key_id: String,
    pub private_key: String,
    pub client_email: String,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    // The private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

/// Why a key file was refused; safe to show to the owner who gave it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not a service account's JSON key file ({0})")]
    Malformed(String),
    #[error("the key's private_key is not an RSA private key in PEM form")]
    PrivateKey,
    #[error("the key's token_uri is refused: {0}")]
    TokenUri(Refused),
}

impl ServiceAccountKey {
    /// Reads and checks a key file: a service account's, with an RSA key that signs, and a
    /// token URI the outbound guard lets Parley call.
    pub fn parse(json: &str, allow: &AllowList) -> Result<ServiceAccountKey, KeyError> {
        let key: ServiceAccountKey = serde_json::from_str(json).map_err(|e| KeyError::Malformed(e.to_string()))?;
        if key.kind != "service_account" {
            return Err(KeyError::Malformed("its type is not service_account".into()));
        }
        if !key.client_email.contains('@') || key.private_key_id.trim().is_empty() {
            return Err(KeyError::Malformed("client_email or private_key_id is missing".into()));
        }
        EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|_| KeyError::PrivateKey)?;
        check_url(&key.token_uri, Targets::Official(GOOGLE_HOSTS), allow).map_err(KeyError::TokenUri)?;
        Ok(key)
    }
}

/// What went wrong asking the agent, classified for the bot's worker.
#[derive(Debug, thiserror::Error)]
pub enum DialogflowError {
    /// Worth trying again on the next pass: network trouble, timeouts, 429, 5xx.
    #[error("Dialogflow is unavailable: {0}")]
    Transient(String),
    /// Google refused the key, the project or the request: trying again will not help.
    #[error("Dialogflow refused the request: {0}")]
    Refused(String),
    /// The API's URL does not pass the outbound guard: nothing was sent.
    #[error("URL not allowed: {0}")]
    NotAllowed(Refused),
}

impl DialogflowError {
    pub fn is_transient(&self) -> bool {
        matches!(self, DialogflowError::Transient(_))
    }
}

/// Access tokens by key (a digest of the private key and the account's address: a key file that
/// names another workspace's account with a key of its own never gets that account's token),
/// shared by every call of the server.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (String, Instant)>>);

impl TokenCache {
    fn get(&self, account: &str) -> Option<String> {
        let tokens = self.0.lock().expect("token cache");
        tokens.get(account).filter(|(_, until)| Instant::now() < *until).map(|(t, _)| t.clone())
    }

    fn forget(&self, account: &str) {
        self.0.lock().expect("token cache").remove(account);
    }

    fn put(&self, account: String, token: String, expires_in: u64) {
        // A minute's margin so a token never expires on its way.
        let until = Instant::now() + Duration::from_secs(expires_in.saturating_sub(60));
        self.0.lock().expect("token cache").insert(account, (token, until));
    }
}

/// Where `detectIntent` is for this agent and session.
pub fn detect_intent_url(agent: &DialogflowAgent, session: &str) -> String {
    let base = match &agent.endpoint {
        Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
        None if agent.location == "global" => "https://dialogflow.googleapis.com".to_owned(),
        None => format!("https://{}-dialogflow.googleapis.com", agent.location),
    };
    let (p, l) = (&agent.project, &agent.location);
    match (agent.edition, &agent.agent) {
        (Edition::Cx, Some(a)) => {
            format!("{base}/v3/projects/{p}/locations/{l}/agents/{a}/sessions/{session}:detectIntent")
        }
        (Edition::Cx, None) => format!("{base}/v3/projects/{p}/locations/{l}/agents/-/sessions/{session}:detectIntent"),
        (Edition::Es, _) if l == "global" => format!("{base}/v2/projects/{p}/agent/sessions/{session}:detectIntent"),
        (Edition::Es, _) => format!("{base}/v2/projects/{p}/locations/{l}/agent/sessions/{session}:detectIntent"),
    }
}

/// The request body of a text query (the two editions place the language differently).
pub fn detect_intent_body(agent: &DialogflowAgent, text: &str) -> Value {
    // Dialogflow takes at most 256 characters of text.
    let text: String = text.chars().take(256).collect();
    match agent.edition {
        Edition::Es => json!({"queryInput": {"text": {"text": text, "languageCode": agent.language}}}),
        Edition::Cx => json!({"queryInput": {"text": {"text": text}, "languageCode": agent.language}}),
    }
}

/// The texts of a list of response messages (`[{"text": {"text": ["…"]}}, …]`).
fn texts_of(messages: Option<&Value>) -> Vec<String> {
    let Some(messages) = messages.and_then(Value::as_array) else { return vec![] };
    messages
        .iter()
        // ES repeats messages per platform (Facebook, Telegram…): only the generic ones count.
        .filter(|m| m.get("platform").and_then(Value::as_str).is_none_or(|p| p == "PLATFORM_UNSPECIFIED"))
        .filter_map(|m| m.pointer("/text/text").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// What a `detectIntent` response says.
pub fn parse_reply(edition: Edition, response: &Value) -> Reply {
    let q = &response["queryResult"];
    match edition {
        Edition::Es => {
            let mut texts = texts_of(q.get("fulfillmentMessages"));
            if texts.is_empty()
                && let Some(t) = q["fulfillmentText"].as_str()
            {
                texts.push(t.to_owned());
            }
            Reply {
                intent: q.pointer("/intent/displayName").and_then(Value::as_str).map(str::to_owned),
                texts,
                live_agent_handoff: false,
            }
        }
        Edition::Cx => {
            let intent = q.pointer("/match/intent/displayName").or_else(|| q.pointer("/intent/displayName"));
            let handoff = q["responseMessages"]
                .as_array()
                .is_some_and(|messages| messages.iter().any(|m| m.get("liveAgentHandoff").is_some()));
            Reply {
                intent: intent.and_then(Value::as_str).map(str::to_owned),
                texts: texts_of(q.get("responseMessages")),
                live_agent_handoff: handoff,
            }
        }
    }
}

/// Google's error message, short.
fn google_error(status: reqwest::StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").or_else(|| v.get("error_description")).or_else(|| v.get("error")))
        .and_then(Value::as_str)
        .unwrap_or("no detail");
    format!("{status}: {}", message.chars().take(200).collect::<String>())
}

fn cache_key(key: &ServiceAccountKey) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.private_key.as_bytes());
    format!("{}#{}", hex::encode(digest), key.client_email)
}

fn classify(status: reqwest::StatusCode, body: &str) -> DialogflowError {
    let message = google_error(status, body);
    // 409 ABORTED: two queries at once on one session.
    let transient = [reqwest::StatusCode::TOO_MANY_REQUESTS, reqwest::StatusCode::CONFLICT].contains(&status);
    if status.is_server_error() || transient {
        DialogflowError::Transient(message)
    } else {
        DialogflowError::Refused(message)
    }
}

fn network(e: reqwest::Error) -> DialogflowError {
    DialogflowError::Transient(if e.is_timeout() { "timed out".into() } else { "cannot reach it".into() })
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Talks to Dialogflow with the server's guarded HTTP client.
pub struct DialogflowClient<'a> {
    pub http: &'a reqwest::Client,
    pub allow: &'a AllowList,
    pub tokens: &'a TokenCache,
}

impl DialogflowClient<'_> {
    /// An access token for the key: from the cache, or traded for a freshly signed JWT.
    async fn token(&self, key: &ServiceAccountKey) -> Result<String, DialogflowError> {
        let account = cache_key(key);
        if let Some(token) = self.tokens.get(&account) {
            return Ok(token);
        }
        let url = check_url(&key.token_uri, Targets::Official(GOOGLE_HOSTS), self.allow)
            .map_err(DialogflowError::NotAllowed)?;
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = Claims { iss: &key.client_email, scope: SCOPE, aud: &key.token_uri, iat, exp: iat + 3600 };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.private_key_id.clone());
        let signing = EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|_| DialogflowError::Refused("the key's private_key cannot sign".into()))?;
        let assertion = jsonwebtoken::encode(&header, &claims, &signing)
            .map_err(|_| DialogflowError::Refused("the key's private_key cannot sign".into()))?;
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)];
        let response = self.http.post(url).form(&form).timeout(CALL_TIMEOUT).send().await.map_err(network)?;
        let status = response.status();
        let body = response.text().await.map_err(network)?;
        if !status.is_success() {
            return Err(classify(status, &body));
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let granted: Granted = serde_json::from_str(&body)
            .map_err(|_| DialogflowError::Transient("the token endpoint answered something else".into()))?;
        self.tokens.put(account, granted.access_token.clone(), granted.expires_in.unwrap_or(3600));
        Ok(granted.access_token)
    }

    /// Asks the agent what to answer `text` in `session` (one per conversation).
    pub async fn detect_intent(
        &self,
        agent: &DialogflowAgent,
        key: &ServiceAccountKey,
        session: &str,
        text: &str,
    ) -> Result<Reply, DialogflowError> {
        let url = check_url(&detect_intent_url(agent, session), Targets::Official(GOOGLE_HOSTS), self.allow)
            .map_err(DialogflowError::NotAllowed)?;
        let token = self.token(key).await?;
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&detect_intent_body(agent, text))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        let body = response.text().await.map_err(network)?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // A revoked or expired token: the next try fetches a new one (a refused key fails there).
            self.tokens.forget(&cache_key(key));
            return Err(DialogflowError::Transient(google_error(status, &body)));
        }
        if !status.is_success() {
            return Err(classify(status, &body));
        }
        let value: Value = serde_json::from_str(&body)
            .map_err(|_| DialogflowError::Transient("Dialogflow answered something else than JSON".into()))?;
        Ok(parse_reply(agent.edition, &value))
    }
}

#[cfg(test)]
mod tests {
    use parley_core::dialogflow::{AgentInput, check_agent};

    use super::*;

    fn agent(edition: &str, location: Option<&str>) -> DialogflowAgent {
        check_agent(AgentInput {
            edition: edition.into(),
            project: "acme-shop".into(),
            location: location.map(str::to_owned),
            agent: (edition == "cx").then(|| "a1b2".into()),
            language: Some("fr".into()),
            ..AgentInput::default()
        })
        .unwrap()
    }

    #[test]
    fn urls_follow_the_edition_and_location() {
        assert_eq!(
            detect_intent_url(&agent("es", None), "parley-7"),
            "https://dialogflow.googleapis.com/v2/projects/acme-shop/agent/sessions/parley-7:detectIntent"
        );
        assert_eq!(
            detect_intent_url(&agent("es", Some("europe-west1")), "s"),
            "https://europe-west1-dialogflow.googleapis.com/v2/projects/acme-shop/locations/europe-west1/agent/sessions/s:detectIntent"
        );
        assert_eq!(
            detect_intent_url(&agent("cx", Some("us-central1")), "s"),
            "https://us-central1-dialogflow.googleapis.com/v3/projects/acme-shop/locations/us-central1/agents/a1b2/sessions/s:detectIntent"
        );
        let sandbox = DialogflowAgent { endpoint: Some("http://127.0.0.1:9/".into()), ..agent("cx", None) };
        assert!(
            detect_intent_url(&sandbox, "s").starts_with("http://127.0.0.1:9/v3/projects/acme-shop/locations/global/")
        );
        // Google's hosts pass the guard; others need the allow-list.
        let none = AllowList::default();
        for a in [agent("es", None), agent("cx", Some("asia-northeast1"))] {
            assert!(check_url(&detect_intent_url(&a, "s"), Targets::Official(GOOGLE_HOSTS), &none).is_ok());
        }
        assert!(check_url(&detect_intent_url(&sandbox, "s"), Targets::Official(GOOGLE_HOSTS), &none).is_err());
    }

    #[test]
    fn bodies_place_the_language_as_each_edition_wants() {
        let es = detect_intent_body(&agent("es", None), "Bonjour");
        assert_eq!(es, json!({"queryInput": {"text": {"text": "Bonjour", "languageCode": "fr"}}}));
        let cx = detect_intent_body(&agent("cx", None), &"x".repeat(300));
        assert_eq!(cx["queryInput"]["languageCode"], "fr");
        assert_eq!(cx["queryInput"]["text"]["text"].as_str().unwrap().len(), 256);
    }

    #[test]
    fn replies_are_read_from_both_editions() {
        let es = json!({"queryResult": {"intent": {"displayName": "hours"}, "fulfillmentText": "9 to 5",
            "fulfillmentMessages": [{"text": {"text": ["We open at 9."]}},
                {"platform": "TELEGRAM", "text": {"text": ["telegram only"]}}, {"text": {"text": ["See you!"]}}]}});
        assert_eq!(
            parse_reply(Edition::Es, &es),
            Reply {
                intent: Some("hours".into()),
                texts: vec!["We open at 9.".into(), "See you!".into()],
                live_agent_handoff: false
            }
        );
        let es_text_only = json!({"queryResult": {"fulfillmentText": "Hi"}});
        assert_eq!(parse_reply(Edition::Es, &es_text_only).texts, vec!["Hi".to_owned()]);
        let cx = json!({"queryResult": {"match": {"intent": {"displayName": "refund"}, "matchType": "INTENT"},
            "responseMessages": [{"text": {"text": ["Let me find someone."]}}, {"liveAgentHandoff": {"metadata": {}}}]}});
        let reply = parse_reply(Edition::Cx, &cx);
        assert_eq!(reply.intent.as_deref(), Some("refund"));
        assert!(reply.live_agent_handoff);
        assert_eq!(reply.texts, vec!["Let me find someone.".to_owned()]);
        assert_eq!(parse_reply(Edition::Cx, &json!({})), Reply::default());
    }

    #[test]
    fn a_key_file_is_checked_before_it_is_kept() {
        let pem = include_str!("../../parley-sandbox/src/dialogflow/sandbox_key.pem");
        let key = |kind: &str, pem: &str, uri: &str| {
            json!({"type": kind, "project_id": "p", "private_key_id": "k1", "private_key": pem,
                "client_email": "bot@p.iam.gserviceaccount.com", "token_uri": uri})
            .to_string()
        };
        let none = AllowList::default();
        let google = "https://oauth2.googleapis.com/token";
        let parsed = ServiceAccountKey::parse(&key("service_account", pem, google), &none).unwrap();
        assert!(!format!("{parsed:?}").contains("PRIVATE"), "the key never reaches a log");
        assert!(matches!(ServiceAccountKey::parse("{", &none), Err(KeyError::Malformed(_))));
        assert!(matches!(ServiceAccountKey::parse(&key("user", pem, google), &none), Err(KeyError::Malformed(_))));
        assert!(matches!(
            ServiceAccountKey::parse(&key("service_account", "-----BEGIN PRIVATE KEY-----\nAAAA\n", google), &none),
            Err(KeyError::PrivateKey)
        ));
        assert!(matches!(
            ServiceAccountKey::parse(&key("service_account", pem, "http://169.254.169.254/token"), &none),
            Err(KeyError::TokenUri(_))
        ));
        assert!(matches!(
            ServiceAccountKey::parse(&key("service_account", pem, "https://evil.example/token"), &none),
            Err(KeyError::TokenUri(_))
        ));
    }
}
