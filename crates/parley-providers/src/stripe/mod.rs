//! Stripe, for topping up a WhatsApp fees account by card: Checkout for an owner at Stripe's
//! page (the card saved for later), an off-session PaymentIntent for auto-recharge, and the
//! signed webhooks that alone confirm a payment (`signature`). Stripe's REST API directly
//! (form-encoded requests, Bearer secret key, `Idempotency-Key` on every creation); its base
//! URL passes the outbound guard: `api.stripe.com` over https, or the allow-list (the sandbox).

pub mod signature;

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::guard::{AllowList, Refused, STRIPE_HOSTS, Targets, check_url};

/// Stripe's API, where the configuration does not say otherwise.
pub const API_BASE: &str = "https://api.stripe.com";
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed, in the classes the caller acts on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// The card was declined (or needs its holder): trying again will not help by itself.
    #[error("card declined ({code}): {message}")]
    Declined { code: String, message: String },
    /// Network, rate limit, Stripe's own failure: worth another try (same idempotency key).
    #[error("Stripe is unreachable or failing: {0}")]
    Retryable(String),
    /// A request Stripe refuses (bad key, bad parameter): a setting to fix.
    #[error("Stripe refused the request: {0}")]
    Permanent(String),
}

/// A Checkout Session (the fields Parley reads).
#[derive(Clone, Debug, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

/// A PaymentIntent (the fields Parley reads).
#[derive(Clone, Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub payment_method: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

/// A webhook event: `data.object` is a Checkout Session or a PaymentIntent, per `kind`.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EventData {
    pub object: Value,
}

/// A Checkout to open: `amount` in the currency's smallest unit.
pub struct Checkout<'a> {
    pub customer: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub product: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// `metadata[...]`, given back in the webhooks.
    pub metadata: &'a [(&'a str, String)],
    pub idempotency_key: &'a str,
}

/// A charge of a saved card with nobody present (auto-recharge).
pub struct OffSession<'a> {
    pub customer: &'a str,
    pub payment_method: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub description: &'a str,
    pub metadata: &'a [(&'a str, String)],
    pub idempotency_key: &'a str,
}

/// Stripe's API with the server's secret key.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    secret_key: String,
}

impl std::fmt::Debug for StripeClient {
    // The secret key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl StripeClient {
    /// A client for `base` (normally [`API_BASE`]), refused unless it passes the guard.
    pub fn new(http: reqwest::Client, base: &str, secret_key: &str, allow: &AllowList) -> Result<Self, Refused> {
        let url = check_url(base, Targets::Official(STRIPE_HOSTS), allow)?;
        Ok(StripeClient {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    /// A customer to save cards on (one per fees account).
    pub async fn create_customer(&self, description: &str, idempotency_key: &str) -> Result<String, StripeError> {
        let answer: Value =
            self.post("/v1/customers", &[("description", description.to_owned())], idempotency_key).await?;
        answer["id"].as_str().map(str::to_owned).ok_or_else(|| StripeError::Permanent("a customer without id".into()))
    }

    /// A payment page for one top-up; the card is saved on the customer for off-session use.
    pub async fn create_checkout(&self, c: &Checkout<'_>) -> Result<CheckoutSession, StripeError> {
        let mut form = vec![
            ("mode", "payment".to_owned()),
            ("customer", c.customer.to_owned()),
            ("success_url", c.success_url.to_owned()),
            ("cancel_url", c.cancel_url.to_owned()),
            ("line_items[0][quantity]", "1".to_owned()),
            ("line_items[0][price_data][currency]", c.currency.to_ascii_lowercase()),
            ("line_items[0][price_data][unit_amount]", c.amount.to_string()),
            ("line_items[0][price_data][product_data][name]", c.product.to_owned()),
            ("payment_intent_data[setup_future_usage]", "off_session".to_owned()),
        ];
        let keys: Vec<(String, String)> = c
            .metadata
            .iter()
            .flat_map(|(k, v)| {
                [(format!("metadata[{k}]"), v.clone()), (format!("payment_intent_data[metadata][{k}]"), v.clone())]
            })
            .collect();
        form.extend(keys.iter().map(|(k, v)| (k.as_str(), v.clone())));
        self.post("/v1/checkout/sessions", &form, c.idempotency_key).await
    }

    pub async fn payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StripeError::Permanent(format!("not a PaymentIntent id: {id:?}")));
        }
        let request = self.http.get(format!("{}/v1/payment_intents/{id}", self.base)).bearer_auth(&self.secret_key);
        answer(request.timeout(CALL_TIMEOUT).send().await).await
    }

    /// Charges a saved card now; a decline is [`StripeError::Declined`]. Success is only
    /// credited when its signed webhook arrives.
    pub async fn charge_saved_card(&self, c: &OffSession<'_>) -> Result<PaymentIntent, StripeError> {
        let mut form = vec![
            ("amount", c.amount.to_string()),
            ("currency", c.currency.to_ascii_lowercase()),
            ("customer", c.customer.to_owned()),
            ("payment_method", c.payment_method.to_owned()),
            ("off_session", "true".to_owned()),
            ("confirm", "true".to_owned()),
            ("description", c.description.to_owned()),
        ];
        let keys: Vec<(String, String)> =
            c.metadata.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone())).collect();
        form.extend(keys.iter().map(|(k, v)| (k.as_str(), v.clone())));
        self.post("/v1/payment_intents", &form, c.idempotency_key).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .timeout(CALL_TIMEOUT);
        answer(request.send().await).await
    }
}

/// Stripe's answer read into `T`, or its error sorted into a class.
async fn answer<T: serde::de::DeserializeOwned>(sent: reqwest::Result<reqwest::Response>) -> Result<T, StripeError> {
    let response = sent.map_err(|e| StripeError::Retryable(e.without_url().to_string()))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| StripeError::Retryable(e.without_url().to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| StripeError::Permanent(format!("an answer not understood: {e}")));
    }
    let error: Value = serde_json::from_slice(&body).unwrap_or_default();
    let error = &error["error"];
    let text = |field: &str| error[field].as_str().unwrap_or_default().to_owned();
    let message = if text("message").is_empty() { format!("HTTP {status}") } else { text("message") };
    Err(match (status.as_u16(), text("type").as_str()) {
        (_, "card_error") | (402, _) => {
            let code = [text("decline_code"), text("code")].into_iter().find(|c| !c.is_empty());
            StripeError::Declined { code: code.unwrap_or_else(|| "card_declined".into()), message }
        }
        (409 | 429, _) | (500.., _) => StripeError::Retryable(message),
        _ => StripeError::Permanent(message),
    })
}
