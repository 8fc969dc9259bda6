//! Stripe, as far as Parley's fees top-ups use it, so the demo and the tests need no Stripe
//! account: customers, Checkout Sessions with a payment page a person (or a browser test) can
//! pay on, PaymentIntents (off-session charges of the saved card, declines on demand), answers
//! replayed under the same `Idempotency-Key`, and webhooks signed like Stripe signs them
//! (`Stripe-Signature`, with the sandbox's clock), retried until answered 2xx.
//!
//! - `POST /stripe/v1/customers`, `POST /stripe/v1/checkout/sessions`,
//!   `POST /stripe/v1/payment_intents`, `GET /stripe/v1/payment_intents/{id}` (Bearer secret key)
//! - `GET /stripe/checkout/{session}`: the payment page; `POST …/pay` pays with a test card
//! - `POST /sandbox/stripe` `{secret_key, webhook_url, webhook_secret}`: where events go;
//!   `POST /sandbox/stripe/decline` `{times}`: the next off-session charges are declined

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_providers::stripe::signature;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Inner;

/// Where the sandbox's Stripe sends its events, and the key it expects.
#[derive(Clone, Debug, Deserialize)]
pub struct StripeHook {
    pub secret_key: String,
    pub webhook_url: String,
    pub webhook_secret: String,
}

/// One webhook the sandbox's Stripe posted: its body, its signature and the answers it got.
#[derive(Clone, Debug)]
pub struct StripeDelivery {
    pub body: Vec<u8>,
    pub signature: String,
    pub statuses: Vec<u16>,
}

#[derive(Default)]
pub(crate) struct FakeStripe {
    hook: Option<StripeHook>,
    sessions: HashMap<String, Value>,
    intents: HashMap<String, Value>,
    /// Customer → saved PaymentMethod.
    cards: HashMap<String, String>,
    /// Idempotency-Key → the first answer.
    answers: HashMap<String, (u16, Value)>,
    declines: u32,
    pub(crate) deliveries: Vec<StripeDelivery>,
}

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/stripe/v1/customers", post(create_customer))
        .route("/stripe/v1/checkout/sessions", post(create_session))
        .route("/stripe/v1/payment_intents", post(create_intent))
        .route("/stripe/v1/payment_intents/{id}", get(get_intent))
        .route("/stripe/checkout/{id}", get(checkout_page))
        .route("/stripe/checkout/{id}/pay", post(pay))
        .route("/sandbox/stripe", post(configure))
        .route("/sandbox/stripe/decline", post(decline))
}

impl Inner {
    pub(crate) fn configure_stripe(&self, hook: StripeHook) {
        self.stripe.lock().expect("stripe").hook = Some(hook);
    }

    pub(crate) fn decline_stripe(&self, times: u32) {
        self.stripe.lock().expect("stripe").declines = times;
    }

    fn stripe_id(&self, prefix: &str) -> String {
        format!("{prefix}_sbx{:012}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// Posts an event to the configured webhook URL, signed, retried until answered 2xx.
    fn emit_stripe_event(self: &Arc<Self>, kind: &str, object: Value) {
        let id = self.stripe_id("evt");
        let now = self.clock.now().as_secs();
        let body = json!({"id": id, "object": "event", "type": kind, "created": now, "livemode": false,
            "data": {"object": object}})
        .to_string();
        let Some(hook) = self.stripe.lock().expect("stripe").hook.clone() else { return };
        let signed = signature::sign(&hook.webhook_secret, now, body.as_bytes());
        let index = {
            let mut stripe = self.stripe.lock().expect("stripe");
            stripe.deliveries.push(StripeDelivery {
                body: body.clone().into_bytes(),
                signature: signed.clone(),
                statuses: Vec::new(),
            });
            stripe.deliveries.len() - 1
        };
        let inner = self.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for attempt in 0..8u32 {
                let sent = http
                    .post(&hook.webhook_url)
                    .header("content-type", "application/json")
                    .header("stripe-signature", &signed)
                    .body(body.clone())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
                inner.stripe.lock().expect("stripe").deliveries[index].statuses.push(status);
                if (200..300).contains(&status) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
            }
        });
    }
}

type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `prefix[key]` entries as an object (Stripe's metadata).
fn map_of(form: &Fields, prefix: &str) -> Value {
    let fields = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
            (!key.contains('[')).then(|| (key.to_owned(), Value::String(v.clone())))
        })
        .collect();
    Value::Object(fields)
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"type": kind, "code": code, "message": message}}))).into_response()
}

/// Checks the key; answers a replayed `Idempotency-Key` as it was answered the first time.
fn gate(inner: &Inner, headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
    let stripe = inner.stripe.lock().expect("stripe");
    let expected = stripe.hook.as_ref().map(|h| format!("Bearer {}", h.secret_key));
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if expected.is_none() || given != expected.as_deref() {
        let refused = error(StatusCode::UNAUTHORIZED, "invalid_request_error", "api_key_invalid", "Invalid API Key");
        return Err(Box::new(refused));
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some((status, answer)) = key.as_ref().and_then(|k| stripe.answers.get(k)) {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
        return Err(Box::new((status, Json(answer.clone())).into_response()));
    }
    Ok(key)
}

fn remember(inner: &Inner, key: Option<String>, status: StatusCode, answer: Value) -> Response {
    if let Some(key) = key {
        inner.stripe.lock().expect("stripe").answers.insert(key, (status.as_u16(), answer.clone()));
    }
    (status, Json(answer)).into_response()
}

async fn create_customer(State(inner): State<Arc<Inner>>, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let key = match gate(&inner, &headers) {
        Ok(key) => key,
        Err(answer) => return *answer,
    };
    let customer = json!({"id": inner.stripe_id("cus"), "object": "customer",
        "description": field(&form, "description")});
    remember(&inner, key, StatusCode::OK, customer)
}

async fn create_session(State(inner): State<Arc<Inner>>, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let key = match gate(&inner, &headers) {
        Ok(key) => key,
        Err(answer) => return *answer,
    };
    let amount = field(&form, "line_items[0][price_data][unit_amount]").and_then(|a| a.parse::<i64>().ok());
    let (Some(amount), Some(currency), Some(success), Some(cancel)) = (
        amount.filter(|a| *a > 0),
        field(&form, "line_items[0][price_data][currency]"),
        field(&form, "success_url"),
        field(&form, "cancel_url"),
    ) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_missing", "missing parameters");
    };
    let id = inner.stripe_id("cs_test");
    let session = json!({
        "id": id, "object": "checkout.session", "mode": "payment", "status": "open", "payment_status": "unpaid",
        "amount_total": amount, "currency": currency, "customer": field(&form, "customer"),
        "success_url": success, "cancel_url": cancel, "payment_intent": null,
        "url": format!("{}/stripe/checkout/{id}", inner.base_url),
        "metadata": map_of(&form, "metadata"),
        "product": field(&form, "line_items[0][price_data][product_data][name]"),
        "intent_metadata": map_of(&form, "payment_intent_data[metadata]"),
        "save_card": field(&form, "payment_intent_data[setup_future_usage]") == Some("off_session"),
    });
    inner.stripe.lock().expect("stripe").sessions.insert(id, session.clone());
    remember(&inner, key, StatusCode::OK, session)
}

async fn create_intent(State(inner): State<Arc<Inner>>, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    let key = match gate(&inner, &headers) {
        Ok(key) => key,
        Err(answer) => return *answer,
    };
    let amount = field(&form, "amount").and_then(|a| a.parse::<i64>().ok()).filter(|a| *a > 0);
    let (Some(amount), Some(currency), Some(customer), Some(method)) =
        (amount, field(&form, "currency"), field(&form, "customer"), field(&form, "payment_method"))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_missing", "missing parameters");
    };
    let (saved, declined) = {
        let mut stripe = inner.stripe.lock().expect("stripe");
        let saved = stripe.cards.get(customer).map(String::as_str) == Some(method);
        let declined = stripe.declines > 0;
        stripe.declines = stripe.declines.saturating_sub(u32::from(declined));
        (saved, declined)
    };
    if !saved {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "resource_missing", "No such PaymentMethod");
    }
    let id = inner.stripe_id("pi");
    let mut intent = json!({"id": id, "object": "payment_intent", "amount": amount, "currency": currency,
        "customer": customer, "payment_method": method, "status": "succeeded",
        "metadata": map_of(&form, "metadata")});
    if declined {
        intent["status"] = json!("requires_payment_method");
        intent["last_payment_error"] = json!({"type": "card_error", "code": "card_declined",
            "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."});
        inner.stripe.lock().expect("stripe").intents.insert(id, intent.clone());
        inner.emit_stripe_event("payment_intent.payment_failed", intent.clone());
        let answer = json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.", "payment_intent": intent}});
        return remember(&inner, key, StatusCode::PAYMENT_REQUIRED, answer);
    }
    inner.stripe.lock().expect("stripe").intents.insert(id, intent.clone());
    inner.emit_stripe_event("payment_intent.succeeded", intent.clone());
    remember(&inner, key, StatusCode::OK, intent)
}

async fn get_intent(State(inner): State<Arc<Inner>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(answer) = gate(&inner, &headers) {
        return *answer;
    }
    match inner.stripe.lock().expect("stripe").intents.get(&id) {
        Some(intent) => Json(intent.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "invalid_request_error", "resource_missing", "No such payment_intent"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

async fn checkout_page(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let Some(session) = inner.stripe.lock().expect("stripe").sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such checkout").into_response();
    };
    let amount = session["amount_total"].as_i64().unwrap_or(0);
    let currency = session["currency"].as_str().unwrap_or_default().to_ascii_uppercase();
    let product = session["product"].as_str().unwrap_or("Payment");
    let paid = session["status"] == "complete";
    let body = if paid {
        "<p>This checkout is paid.</p>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"/stripe/checkout/{id}/pay\"><p>Card: 4242 4242 4242 4242 (sandbox)</p>\
             <button id=\"pay\" type=\"submit\">Pay {amount} {currency}</button></form>\
             <p><a id=\"cancel\" href=\"{}\">Cancel</a></p>",
            escape(session["cancel_url"].as_str().unwrap_or("/")),
            id = escape(&id),
            currency = escape(&currency),
        )
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sandbox checkout</title></head>\
         <body><h1>Sandbox checkout</h1><p id=\"product\">{}</p>\
         <p>Amount in the smallest unit of {}: <strong id=\"amount\">{amount}</strong></p>{body}\
         <p><small>Parley's sandbox playing Stripe: no money moves.</small></p></body></html>",
        escape(product),
        escape(&currency),
    );
    Html(page).into_response()
}

async fn pay(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let paid = {
        let mut guard = inner.stripe.lock().expect("stripe");
        let stripe = &mut *guard;
        let Some(session) = stripe.sessions.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "no such checkout").into_response();
        };
        if session["status"] == "complete" {
            None
        } else {
            let intent_id = format!("pi_sbx{}", id.trim_start_matches("cs_test_sbx"));
            let customer = session["customer"].as_str().map(str::to_owned);
            let method = format!("pm_sbx{}", id.trim_start_matches("cs_test_sbx"));
            if let Some(customer) = &customer
                && session["save_card"] == true
            {
                stripe.cards.insert(customer.clone(), method.clone());
            }
            session["status"] = json!("complete");
            session["payment_status"] = json!("paid");
            session["payment_intent"] = json!(intent_id);
            let intent = json!({"id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
                "currency": session["currency"], "customer": customer, "payment_method": method,
                "status": "succeeded", "metadata": session["intent_metadata"]});
            stripe.intents.insert(intent_id, intent.clone());
            Some((session.clone(), intent))
        }
    };
    let Some((session, intent)) = paid else {
        return (StatusCode::CONFLICT, "this checkout is paid").into_response();
    };
    inner.emit_stripe_event("checkout.session.completed", session.clone());
    inner.emit_stripe_event("payment_intent.succeeded", intent);
    Redirect::to(session["success_url"].as_str().unwrap_or("/")).into_response()
}

async fn configure(State(inner): State<Arc<Inner>>, Json(hook): Json<StripeHook>) -> Response {
    inner.configure_stripe(hook);
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct Decline {
    times: u32,
}

async fn decline(State(inner): State<Arc<Inner>>, Json(d): Json<Decline>) -> Response {
    inner.decline_stripe(d.times);
    Json(json!({"ok": true})).into_response()
}
