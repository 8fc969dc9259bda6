//! Twilio's WhatsApp channel, as far as Parley uses it, so tests and the demo need no Twilio
//! account: the Messages API (Basic auth with the Account SID and Auth Token, form bodies,
//! Twilio's JSON errors, faults on demand), status callbacks (`sent`, then `delivered`) posted to
//! each message's `StatusCallback`, and customers who write through a Twilio number — form posts
//! signed like Twilio signs them (`X-Twilio-Signature`), retried until answered 2xx.
//!
//! - `POST /twilio/2010-04-01/Accounts/{sid}/Messages.json`: send (a `ContentSid` must be one
//!   of the account's Content templates)
//! - `GET /twilio/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}`: a received file
//! - `GET /twilio/content/v1/ContentAndApprovals`: Content templates with their approval
//! - [`Sandbox::add_twilio_number`](crate::Sandbox::add_twilio_number),
//!   [`Sandbox::twilio_say`](crate::Sandbox::twilio_say),
//!   [`Sandbox::twilio_fail_next`](crate::Sandbox::twilio_fail_next),
//!   [`Sandbox::twilio_sent`](crate::Sandbox::twilio_sent): the test's side

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::json;

use crate::Inner;
use crate::customer::Customer;
use crate::emitter::Delivery;

/// A WhatsApp sender on a Twilio account, and where its inbound messages go.
#[derive(Clone, Debug)]
pub struct TwilioNumber {
    pub account_sid: String,
    pub auth_token: String,
    /// The sender's number, digits.
    pub number: String,
    /// The number's "a message comes in" URL.
    pub webhook_url: String,
}

/// A message sent through the sandbox's Twilio: its SID and the form it came with.
#[derive(Clone, Debug)]
pub struct TwilioSent {
    /// When the send arrived.
    pub at: std::time::Instant,
    pub sid: String,
    pub account_sid: String,
    pub form: Vec<(String, String)>,
}

impl TwilioSent {
    /// The form's first value for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub(crate) struct FakeTwilio {
    numbers: Vec<TwilioNumber>,
    sent: Vec<TwilioSent>,
    /// Error codes the next sends answer with, in order.
    faults: VecDeque<i64>,
    /// Content templates with their WhatsApp approval, per account (`ContentAndApprovals` items).
    contents: Vec<(String, serde_json::Value)>,
}

pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route("/twilio/2010-04-01/Accounts/{sid}/Messages.json", post(send))
        .route("/twilio/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}", get(media))
        .route("/twilio/content/v1/ContentAndApprovals", get(contents))
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16()});
    (status, Json(body)).into_response()
}

/// `Authorization: Basic base64(sid:token)`.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl Inner {
    fn twilio_sid(&self, prefix: &str) -> String {
        format!("{prefix}{:032x}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    fn twilio_post(&self, url: &str, token: &str, form: &[(String, String)], id: &str) {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish().into_bytes();
        let delivery = Delivery {
            url: url.to_owned(),
            signing: crate::emitter::Signing::Twilio { auth_token: token.to_owned() },
            body,
            item_ids: vec![id.to_owned()],
            forge: false,
        };
        self.emitter.enqueue(vec![delivery], Duration::ZERO);
    }
}

async fn send(State(inner): State<Arc<Inner>>, Path(sid): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut twilio = inner.twilio.lock().expect("twilio");
    let account = basic_auth(&headers).and_then(|(user, password)| {
        twilio.numbers.iter().find(|n| n.account_sid == user && n.auth_token == password && user == sid).cloned()
    });
    let Some(account) = account else { return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate") };
    let from = get("From").unwrap_or_default();
    let known_sender = twilio.numbers.iter().any(|n| n.account_sid == sid && from == format!("whatsapp:+{}", n.number));
    if !known_sender {
        return error(
            StatusCode::BAD_REQUEST,
            63007,
            "Twilio could not find a Channel with the specified From address",
        );
    };
    let to = get("To").unwrap_or_default();
    if !to.strip_prefix("whatsapp:+").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return error(StatusCode::BAD_REQUEST, 21211, "Invalid 'To' Phone Number");
    }
    if get("Body").is_none() && get("MediaUrl").is_none() && get("ContentSid").is_none() {
        return error(StatusCode::BAD_REQUEST, 21619, "A text message body or media urls must be specified");
    }
    if let Some(content) = get("ContentSid") {
        let known = twilio.contents.iter().any(|(account, c)| account == &sid && c["sid"] == content.as_str());
        if !known {
            return error(StatusCode::BAD_REQUEST, 21656, "The ContentSid is Invalid");
        }
    }
    if let Some(code) = twilio.faults.pop_front() {
        let status = if code == 63018 { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::BAD_REQUEST };
        return error(status, code, "The sandbox's Twilio refused this message, as asked");
    }
    let message_sid = inner.twilio_sid("SM");
    let at = std::time::Instant::now();
    twilio.sent.push(TwilioSent { at, sid: message_sid.clone(), account_sid: sid.clone(), form: form.clone() });
    drop(twilio);
    if let Some(callback) = get("StatusCallback") {
        for status in ["sent", "delivered"] {
            let callback_form: Vec<(String, String)> = [
                ("MessageSid", message_sid.as_str()),
                ("MessageStatus", status),
                ("AccountSid", sid.as_str()),
                ("From", from.as_str()),
                ("To", to.as_str()),
                ("ChannelPrefix", "whatsapp"),
                ("ApiVersion", "2010-04-01"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            inner.twilio_post(&callback, &account.auth_token, &callback_form, &format!("{message_sid}:{status}"));
        }
    }
    let answer = json!({"sid": message_sid, "account_sid": sid, "from": from, "to": to, "status": "queued",
        "body": get("Body"), "num_media": if get("MediaUrl").is_some() { "1" } else { "0" }, "api_version": "2010-04-01"});
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// A received file, behind the account's credentials (Twilio's `MediaUrl`; the real one
/// redirects to its CDN, the sandbox answers the bytes itself).
async fn media(
    State(inner): State<Arc<Inner>>,
    Path((sid, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let known = basic_auth(&headers).is_some_and(|(user, password)| {
        user == sid
            && inner
                .twilio
                .lock()
                .expect("twilio")
                .numbers
                .iter()
                .any(|n| n.account_sid == user && n.auth_token == password)
    });
    if !known {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let id = media.strip_prefix("ME").unwrap_or(&media);
    match inner.media.lock().expect("media").get(id).cloned() {
        Some(file) => ([(header::CONTENT_TYPE, file.mime_type)], file.bytes).into_response(),
        None => error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
    }
}

/// The account's Content templates with their approval, on one page.
async fn contents(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let twilio = inner.twilio.lock().expect("twilio");
    let account = basic_auth(&headers).and_then(|(user, password)| {
        twilio.numbers.iter().any(|n| n.account_sid == user && n.auth_token == password).then_some(user)
    });
    let Some(account) = account else { return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate") };
    let contents: Vec<serde_json::Value> =
        twilio.contents.iter().filter(|(a, _)| *a == account).map(|(_, c)| c.clone()).collect();
    let meta = json!({"page": 0, "page_size": 100, "next_page_url": null, "key": "contents"});
    Json(json!({"contents": contents, "meta": meta})).into_response()
}

impl crate::Sandbox {
    /// A Twilio WhatsApp sender: sends from it are accepted with its account's credentials;
    /// its customers' messages go to `webhook_url`.
    pub fn add_twilio_number(&self, number: TwilioNumber) {
        let mut twilio = self.inner.twilio.lock().expect("twilio");
        twilio.numbers.retain(|n| n.number != number.number);
        twilio.numbers.push(number);
    }

    /// Twilio's API base for a Twilio channel's base URL.
    pub fn twilio_api_base(&self) -> String {
        format!("{}/twilio", self.inner.base_url)
    }

    /// `customer` writes `text` to the Twilio sender `number`: a signed form post to the
    /// number's webhook, retried until answered 2xx. Answers the message's SID.
    pub fn twilio_say(&self, number: &str, customer: &Customer, text: &str) -> String {
        self.twilio_post_inbound(number, customer, text, None)
    }

    /// `customer` sends a file (with `caption`) to the Twilio sender `number`; Twilio's
    /// `MediaUrl0` points at the sandbox, behind the account's credentials.
    pub fn twilio_say_media(
        &self,
        number: &str,
        customer: &Customer,
        bytes: Vec<u8>,
        mime: &str,
        caption: &str,
    ) -> String {
        let media = self.inner.add_media(bytes, mime);
        self.twilio_post_inbound(number, customer, caption, Some((media, mime.to_owned())))
    }

    fn twilio_post_inbound(
        &self,
        number: &str,
        customer: &Customer,
        text: &str,
        media: Option<(String, String)>,
    ) -> String {
        let twilio = self.inner.twilio.lock().expect("twilio");
        let found = twilio.numbers.iter().find(|n| n.number == number).cloned().expect("a Twilio number added first");
        drop(twilio);
        let sid = self.inner.twilio_sid("SM");
        let from = match (&customer.wa_id, &customer.bsuid) {
            (Some(wa_id), _) => format!("whatsapp:+{wa_id}"),
            (None, Some(bsuid)) => format!("whatsapp:{bsuid}"),
            (None, None) => panic!("a customer with a WhatsApp id or a BSUID"),
        };
        let mut form: Vec<(String, String)> = vec![
            ("MessageSid".into(), sid.clone()),
            ("SmsMessageSid".into(), sid.clone()),
            ("AccountSid".into(), found.account_sid.clone()),
            ("From".into(), from),
            ("To".into(), format!("whatsapp:+{number}")),
            ("Body".into(), text.to_owned()),
            ("NumMedia".into(), if media.is_some() { "1" } else { "0" }.into()),
            ("NumSegments".into(), "1".into()),
            ("MessageType".into(), "text".into()),
            ("SmsStatus".into(), "received".into()),
            ("ApiVersion".into(), "2010-04-01".into()),
        ];
        if let Some((media_id, mime)) = media {
            let url = format!(
                "{}/twilio/2010-04-01/Accounts/{}/Messages/{sid}/Media/ME{media_id}",
                self.inner.base_url, found.account_sid
            );
            form.push(("MediaUrl0".into(), url));
            form.push(("MediaContentType0".into(), mime));
            form.retain(|(k, _)| k != "MessageType");
            form.push(("MessageType".into(), "media".into()));
        }
        if let Some(wa_id) = &customer.wa_id {
            form.push(("WaId".into(), wa_id.clone()));
        }
        if let Some(name) = &customer.name {
            form.push(("ProfileName".into(), name.clone()));
        }
        if let Some(username) = &customer.username {
            form.push(("ProfileUsername".into(), username.clone()));
        }
        self.inner.twilio_post(&found.webhook_url, &found.auth_token, &form, &sid);
        sid
    }

    /// The next sends are refused with these Twilio error codes, in order (63018 answers 429).
    pub fn twilio_fail_next(&self, codes: &[i64]) {
        self.inner.twilio.lock().expect("twilio").faults.extend(codes.iter().copied());
    }

    /// A Content template on the account, with WhatsApp's verdict (`approved`, `pending`,
    /// `rejected`, …) and category; answers its Content SID.
    pub fn add_twilio_content(
        &self,
        account_sid: &str,
        name: &str,
        language: &str,
        body: &str,
        category: &str,
        status: &str,
    ) -> String {
        let sid = self.inner.twilio_sid("HX");
        // Twilio asks for a sample of each `{{n}}` before WhatsApp's approval.
        let variables: serde_json::Map<String, serde_json::Value> = (1..=20)
            .filter(|n| body.contains(&format!("{{{{{n}}}}}")))
            .map(|n| (n.to_string(), json!(format!("sample {n}"))))
            .collect();
        let content = json!({
            "sid": sid, "account_sid": account_sid, "friendly_name": name, "language": language,
            "variables": variables,
            "types": {"twilio/text": {"body": body}},
            "approval_requests": {"name": name, "category": category, "status": status, "rejection_reason": ""},
        });
        self.inner.twilio.lock().expect("twilio").contents.push((account_sid.to_owned(), content));
        sid
    }

    /// What was sent through the sandbox's Twilio, oldest first.
    pub fn twilio_sent(&self) -> Vec<TwilioSent> {
        self.inner.twilio.lock().expect("twilio").sent.clone()
    }
}
