//! Paying WhatsApp fees by card (issue 19): Checkout top-ups begun by owners, auto-recharges
//! asked by the fees worker, and Stripe's signed webhooks — the only thing that credits money.
//! Configured by `[stripe]` in `parley.toml` (`secret_key`, `webhook_secret`, `api_base`,
//! `public_url`, `top_up_min`, `top_up_max`); without it, top-ups are recorded by hand.
//!
//! The webhook (`POST /webhooks/stripe`) is verified on its raw bytes before anything is read
//! (`Stripe-Signature`, five minutes of tolerance on the server's clock); an event is taken
//! once (its id is kept), and a payment is credited once (`stripe:<payment intent>` is unique
//! per account): Checkout's `checkout.session.completed` and `payment_intent.succeeded` for
//! the same payment credit it once, whichever comes first.

use parley_core::fees::Micros;
use parley_core::fees::watch::{from_minor_units, to_minor_units};
use parley_core::ids::{UserId, WorkspaceId};
use parley_providers::guard::AllowList;
use parley_providers::stripe::{self, Checkout, CheckoutSession, OffSession, PaymentIntent, StripeClient, StripeError};
use parley_store::{Credited, FeeAccount, Payment, TopUp};

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;

/// The `[stripe]` settings (their `Debug` never shows the keys).
#[derive(Clone)]
pub struct StripeSettings {
    pub secret_key: String,
    pub webhook_secret: String,
    /// Stripe's API (`https://api.stripe.com`) or the sandbox's.
    pub api_base: String,
    /// Where people reach this server, for Checkout's way back (`https://parley.example.com`).
    pub public_url: String,
    pub top_up_min: Micros,
    pub top_up_max: Micros,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_base", &self.api_base)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Default for StripeSettings {
    fn default() -> Self {
        StripeSettings {
            secret_key: String::new(),
            webhook_secret: String::new(),
            api_base: stripe::API_BASE.to_owned(),
            public_url: String::new(),
            top_up_min: Micros(10_000_000),
            top_up_max: Micros(2_000_000_000),
        }
    }
}

/// Stripe, ready to use.
#[derive(Clone, Debug)]
pub struct Payments {
    pub client: StripeClient,
    webhook_secret: String,
    public_url: String,
    min: Micros,
    max: Micros,
}

impl Payments {
    /// Refused when the API base does not pass the outbound guard.
    pub fn new(settings: &StripeSettings, allow: &AllowList) -> Result<Payments, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build Stripe's HTTP client: {e}"))?;
        let client = StripeClient::new(http, &settings.api_base, &settings.secret_key, allow)
            .map_err(|e| format!("stripe api_base {:?}: {e}", settings.api_base))?;
        if settings.webhook_secret.is_empty() || settings.secret_key.is_empty() {
            return Err("stripe needs secret_key and webhook_secret".to_owned());
        }
        Ok(Payments {
            client,
            webhook_secret: settings.webhook_secret.clone(),
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
            min: settings.top_up_min,
            max: settings.top_up_max,
        })
    }
}

fn payments(state: &AppState) -> Result<&Payments, ApiError> {
    state.payments.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "payments_not_configured",
            "card payments are not set up on this server ([stripe] in parley.toml); record a transfer by hand",
        )
    })
}

fn stripe_failed(e: &StripeError) -> ApiError {
    tracing::warn!(error = %e, "Stripe call failed");
    ApiError::new(StatusCode::BAD_GATEWAY, "payment_provider_failed", format!("{e}"))
}

/// Begins a card top-up of `amount` on the account: a Checkout Session to send the owner to.
pub async fn begin_checkout(
    state: &AppState,
    ws: WorkspaceId,
    account_id: i64,
    amount: Micros,
    by: UserId,
) -> Result<TopUp, ApiError> {
    let payments = payments(state)?;
    let account = state.store.fee_account(ws, account_id).await?;
    if amount < payments.min || amount > payments.max {
        let why = format!(
            "a card top-up is from {} to {} {}",
            payments.min.to_decimal(),
            payments.max.to_decimal(),
            account.currency.as_str()
        );
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", why).with_field("amount"));
    }
    let units = to_minor_units(&account.currency, amount)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", e).with_field("amount"))?;
    let account = customer_of(state, payments, account).await?;
    let customer = account.stripe_customer.clone().unwrap_or_default();
    let now = state.clock.now();
    let top_up = state.store.begin_top_up(ws, account.id, amount, by, now).await?;
    // Back to the fees page, which says what became of the payment.
    let back = |outcome: &str| format!("{}/inbox?{outcome}={}#fees", payments.public_url, top_up.id);
    let product = format!("WhatsApp fees, account {}", account.waba_id);
    let metadata = [("top_up", top_up.id.to_string()), ("account", account.id.to_string())];
    let opened = payments
        .client
        .create_checkout(&Checkout {
            customer: &customer,
            amount: units,
            currency: account.currency.as_str(),
            product: &product,
            success_url: &back("top_up_paid"),
            cancel_url: &back("top_up_cancelled"),
            metadata: &metadata,
            idempotency_key: &format!("parley-top-up-{}", top_up.id),
        })
        .await;
    match opened {
        Ok(CheckoutSession { id, url: Some(url), .. }) => {
            Ok(state.store.attach_checkout(top_up.id, &id, &url, now).await?)
        }
        Ok(_) => {
            let e = StripeError::Permanent("a Checkout Session without a URL".into());
            state.store.top_up_not_taken(top_up.id, &e.to_string(), None, now).await?;
            Err(stripe_failed(&e))
        }
        Err(e) => {
            state.store.top_up_not_taken(top_up.id, &e.to_string(), None, now).await?;
            Err(stripe_failed(&e))
        }
    }
}

/// The account with its Stripe customer, made once.
async fn customer_of(state: &AppState, payments: &Payments, account: FeeAccount) -> Result<FeeAccount, ApiError> {
    if account.stripe_customer.is_some() {
        return Ok(account);
    }
    let description = format!("Parley WhatsApp fees account {} (WABA {})", account.id, account.waba_id);
    let made = payments
        .client
        .create_customer(&description, &format!("parley-customer-{}", account.id))
        .await
        .map_err(|e| stripe_failed(&e))?;
    Ok(state.store.set_stripe_customer(account.workspace_id, account.id, &made).await?)
}

/// What a verified webhook did, as answered to Stripe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    Credited,
    AlreadyCredited,
    Replayed,
    Refused,
    Failed,
    Ignored,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Credited => "credited",
            WebhookOutcome::AlreadyCredited => "already_credited",
            WebhookOutcome::Replayed => "replayed",
            WebhookOutcome::Refused => "refused",
            WebhookOutcome::Failed => "failed",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

/// Takes a Stripe webhook: verified on its raw bytes first (a forgery or an old signature is a
/// 400 and nothing is stored), then applied once.
pub async fn take_webhook(state: &AppState, body: &[u8], signature: Option<&str>) -> Result<WebhookOutcome, ApiError> {
    let Some(payments) = state.payments.as_deref() else { return Err(ApiError::not_found()) };
    let now = state.clock.now();
    stripe::signature::verify(&payments.webhook_secret, body, signature, now.as_secs()).map_err(|e| {
        tracing::warn!(error = %e, "refused a Stripe webhook");
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_signature", e.to_string())
    })?;
    let event: stripe::Event = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_event", format!("not a Stripe event: {e}")))?;
    let object = &event.data.object;
    let top_up = object["metadata"]["top_up"].as_str().and_then(|t| t.parse::<i64>().ok());
    let store = &state.store;
    let outcome = match (event.kind.as_str(), top_up) {
        ("checkout.session.completed" | "checkout.session.async_payment_succeeded", Some(top_up)) => {
            let session: CheckoutSession = read_object(object)?;
            match (session.payment_status.as_deref(), &session.payment_intent) {
                (Some("paid"), Some(intent)) => {
                    let currency = session.currency.clone().unwrap_or_default();
                    let payment = Payment {
                        event_id: event.id.clone(),
                        event_kind: event.kind.clone(),
                        top_up,
                        payment_intent: intent.clone(),
                        session_id: Some(session.id.clone()),
                        amount: minor_to_micros(&currency, session.amount_total.unwrap_or(0)),
                        currency,
                        payment_method: None,
                    };
                    credited(store.credit_payment(payment, now).await?)
                }
                // Paid later (a bank debit): its own event will say so.
                _ => ignored(store.take_stripe_event(&event.id, &event.kind, now).await?),
            }
        }
        ("payment_intent.succeeded", Some(top_up)) => {
            let intent: PaymentIntent = read_object(object)?;
            let payment = Payment {
                event_id: event.id.clone(),
                event_kind: event.kind.clone(),
                top_up,
                payment_intent: intent.id.clone(),
                session_id: None,
                amount: minor_to_micros(&intent.currency, intent.amount),
                currency: intent.currency.clone(),
                payment_method: intent.payment_method.clone().zip(intent.customer.clone()),
            };
            credited(store.credit_payment(payment, now).await?)
        }
        ("payment_intent.payment_failed", Some(top_up)) => {
            let error = &object["last_payment_error"];
            let why = error["message"].as_str().or(error["code"].as_str()).unwrap_or("the payment failed");
            if store.payment_failed(&event.id, &event.kind, top_up, why, now).await? {
                WebhookOutcome::Failed
            } else {
                WebhookOutcome::Replayed
            }
        }
        _ => ignored(store.take_stripe_event(&event.id, &event.kind, now).await?),
    };
    Ok(outcome)
}

fn read_object<T: serde::de::DeserializeOwned>(object: &serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(object.clone())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_event", format!("unexpected object: {e}")))
}

fn minor_to_micros(currency: &str, units: i64) -> Micros {
    match parley_core::fees::Currency::parse(&currency.to_ascii_uppercase()) {
        Ok(c) => from_minor_units(&c, units),
        // An unknown currency never matches a top-up's: refused as a mismatch.
        Err(_) => Micros(-1),
    }
}

fn credited(c: Credited) -> WebhookOutcome {
    match c {
        Credited::Now(_) => WebhookOutcome::Credited,
        Credited::Before => WebhookOutcome::AlreadyCredited,
        Credited::EventSeen => WebhookOutcome::Replayed,
        Credited::Refused(why) => {
            tracing::error!(why, "a Stripe payment does not match its top-up: not credited");
            WebhookOutcome::Refused
        }
    }
}

fn ignored(taken: bool) -> WebhookOutcome {
    if taken { WebhookOutcome::Ignored } else { WebhookOutcome::Replayed }
}

/// How many times a recharge Stripe could not be reached for is asked.
const RECHARGE_ATTEMPTS: i64 = 5;

/// Asks Stripe for the auto-recharges due (the fees worker); answers how many it asked.
pub async fn ask_recharges(state: &AppState) -> Result<usize, parley_store::StoreError> {
    let now = state.clock.now();
    let lease = now.plus_secs(60);
    let claimed = state.store.claim_recharges(now, lease, 10).await?;
    let count = claimed.len();
    for (top_up, account) in claimed {
        let outcome = match state.payments.as_deref() {
            None => Err(StripeError::Permanent("card payments are not set up on this server".into())),
            Some(payments) => charge(payments, &top_up, &account).await,
        };
        let now = state.clock.now();
        match outcome {
            Ok(intent) if matches!(intent.status.as_str(), "succeeded" | "processing") => {
                state.store.recharge_asked(top_up.id, &intent.id, now).await?
            }
            Ok(intent) => {
                let why = format!("the card needs its holder (Stripe says {})", intent.status);
                state.store.top_up_not_taken(top_up.id, &why, None, now).await?
            }
            Err(StripeError::Retryable(e)) if top_up.attempts < RECHARGE_ATTEMPTS => {
                let wait = 60_i64 << top_up.attempts.clamp(0, 10);
                state.store.top_up_not_taken(top_up.id, &e, Some(now.plus_secs(wait)), now).await?
            }
            Err(e) => state.store.top_up_not_taken(top_up.id, &e.to_string(), None, now).await?,
        }
    }
    Ok(count)
}

async fn charge(payments: &Payments, top_up: &TopUp, account: &FeeAccount) -> Result<PaymentIntent, StripeError> {
    let (Some(customer), Some(method)) = (&account.stripe_customer, &account.payment_method) else {
        return Err(StripeError::Permanent("no card is saved: top up by card once to save one".into()));
    };
    let units = to_minor_units(&account.currency, top_up.amount).map_err(|e| StripeError::Permanent(e.into()))?;
    let metadata = [("top_up", top_up.id.to_string()), ("account", account.id.to_string())];
    payments
        .client
        .charge_saved_card(&OffSession {
            customer,
            payment_method: method,
            amount: units,
            currency: account.currency.as_str(),
            description: &format!("WhatsApp fees auto-recharge, account {}", account.waba_id),
            metadata: &metadata,
            idempotency_key: &format!("parley-top-up-{}", top_up.id),
        })
        .await
}
