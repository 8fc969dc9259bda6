//! The one place where errors become HTTP: `{"error":{"code","message","field"}}` with a stable
//! snake_case `code`. 4xx for the caller's mistakes, 5xx only for ours (and then the details go
//! to the log, not to the caller).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::Invalid;
use parley_providers::meta::manage::ManageError;
use parley_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// The JSON body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_phone`, `identifier_taken`, `not_found`.
    code: &'static str,
    message: String,
    /// The request field at fault, when there is one.
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    pub fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: &str) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A URL the outbound guard refuses (`parley_providers::guard`): 422 `url_not_allowed`.
    pub fn url_not_allowed(refused: &parley_providers::guard::Refused, field: &str) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed", refused.to_string()).with_field(field)
    }

    pub fn internal() -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message, field: self.field } };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        // Malformed requests are 400; well-formed values that break a rule are 422.
        let status =
            if e.code == "invalid_request" { StatusCode::BAD_REQUEST } else { StatusCode::UNPROCESSABLE_ENTITY };
        ApiError { status, code: e.code, message: e.message, field: e.field }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict { field } => ApiError::new(
                StatusCode::CONFLICT,
                "identifier_taken",
                format!("another record already uses this {field}"),
            )
            .with_field(field),
            StoreError::IdempotencyKeyReused => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this idempotency key was already used for a different request",
            )
            .with_field("idempotency_key"),
            StoreError::Invalid(invalid) => invalid.into(),
            StoreError::Forbidden(why) => ApiError::forbidden(why),
            StoreError::Refused(refusal) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, refusal.code(), refusal.message())
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

/// A management call's failure: Meta's refusal with its code (422 `provider_refused`), or no
/// usable answer (502 `provider_unavailable`).
impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Refused { code, subcode, message, .. } => {
                let codes = match (code, subcode) {
                    (Some(c), Some(s)) => format!(" (code {c}, subcode {s})"),
                    (Some(c), None) => format!(" (code {c})"),
                    _ => String::new(),
                };
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "provider_refused",
                    format!("the provider refused{codes}: {message}"),
                )
            }
            ManageError::Unavailable(why) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "provider_unavailable",
                format!("the provider did not answer: {why}"),
            ),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
