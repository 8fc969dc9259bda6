//! `parley-server` — the HTTP side of Parley: the REST API under `/api/v1` (documented by the
//! OpenAPI document at `/api/openapi.json`, generated from the handlers), token auth, health
//! checks. `app` builds the router; `serve` runs it until shutdown.

pub mod actions;
pub mod admin;
pub mod auth;
pub mod contacts_io;
mod csv_lines;
pub mod error;
pub mod event_log;
pub mod extract;
pub mod fees;
pub mod ingest;
pub mod journal;
pub mod mail;
pub mod media_response;
pub mod password;
pub mod payments;
pub mod reconcile;
mod routes;
pub mod secrets;
pub mod security_headers;
pub mod state;
pub mod streams;
pub mod uploads;
pub mod web;
pub mod workers;

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use state::AppState;

use crate::error::ApiError;

/// Largest API request body. Contact payloads are small; imports will have their own limit.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley API", description = "Self-hosted WhatsApp Business conversation platform."),
    modifiers(&BearerAuth),
    tags(
        (name = "contacts", description = "Contacts, tags and notes"),
        (name = "accounts", description = "Workspace, users and API tokens"),
        (name = "channels", description = "WhatsApp numbers"),
        (name = "conversations", description = "Conversations and messages"),
        (name = "messages", description = "Sending, with WhatsApp's rules checked first"),
        (name = "webhooks", description = "Provider webhooks (signed, no token) and outgoing webhook subscriptions"),
        (name = "search", description = "Finding contacts, messages and notes"),
        (name = "events", description = "The event log"),
        (name = "workflows", description = "Automations: drafts, versions, runs and their history"),
        (name = "fees", description = "WhatsApp fees: rate cards, accounts per WABA and their ledger"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router and the OpenAPI document describing it.
pub fn router_and_openapi() -> (Router<AppState>, OpenApiDoc) {
    let api = OpenApiRouter::new()
        .merge(routes::contacts::router())
        .merge(routes::imports::router())
        .merge(routes::merges::router())
        .merge(routes::accounts::router())
        .merge(routes::users::router())
        .merge(routes::bots::router())
        .merge(routes::bot_dialogflow::router())
        .merge(routes::password::router())
        .merge(routes::channels::router())
        .merge(routes::channel_moves::router())
        .merge(routes::conversations::router())
        .merge(routes::notes::router())
        .merge(routes::conversation_tags::router())
        .merge(routes::assignment::router())
        .merge(routes::canned::router())
        .merge(routes::messages::router())
        .merge(routes::consents::router())
        .merge(routes::templates::router())
        .merge(routes::samples::router())
        .merge(routes::numbers::router())
        .merge(routes::notifications::router())
        .merge(routes::search::router())
        .merge(routes::teams::router())
        .merge(routes::events::router())
        .merge(routes::subscriptions::router())
        .merge(routes::workflows::router())
        .merge(routes::fees::router())
        .merge(routes::fee_accounts::router())
        .merge(routes::fee_usage::router())
        .merge(routes::fee_payments::router())
        .merge(routes::fee_statements::router())
        .merge(routes::workflow_shortcuts::router())
        .merge(routes::workflow_hooks::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .merge(routes::webhooks::router())
        .merge(routes::webhooks_twilio::router())
        .merge(routes::webhooks_360dialog::router())
        .merge(routes::webhooks_messagebird::router())
        .merge(routes::public_media::router())
        .merge(routes::fee_payments::webhook_router())
        .merge(routes::workflow_hooks::hooks_router())
        .merge(routes::health::router())
        .split_for_parts()
}

/// The document as JSON with the outgoing webhook catalog as OpenAPI 3.1 `webhooks`.
pub fn openapi_with_webhooks(doc: &OpenApiDoc) -> serde_json::Value {
    let mut json = serde_json::to_value(doc).unwrap_or_default();
    json["webhooks"] = routes::webhook_catalog::openapi_webhooks();
    json
}

/// The whole application with its middleware.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The whole application with `extra` routes served under the same middleware (the webhook
/// benchmark's yardsticks, which must cost what any route of this server costs).
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let (router, openapi) = router_and_openapi();
    let openapi = openapi_with_webhooks(&openapi);
    router
        .merge(extra)
        .route("/api/openapi.json", get(move || async move { Json(openapi) }))
        .merge(web::router())
        .merge(routes::graph::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| ApiError::internal().into_response()))
        .layer(axum::middleware::from_fn(security_headers::add))
        .with_state(state)
}

/// Serves `app(state)` on `listener`, with the background workers, until `shutdown` completes;
/// then drains requests and stops the workers.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Webhooks acknowledged before a crash or a stop are applied before anything is served.
    if let Err(e) = journal::recover(&state).await {
        tracing::error!(error = %e, "reading the inbound journal failed; its webhooks wait for the next start");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = workers::spawn_all(state.clone(), stopped);
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    let _ = stop.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    served
}
