//! Request extractors that answer bad input with our JSON errors instead of axum's plain text,
//! and the parsing every route shares: path ids (`PathId`) and list limits (`list_limit`).

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// A JSON body. Malformed JSON, unknown fields and wrong types are `400 invalid_request`; a
/// missing `Content-Type: application/json` is `415`; too large a body is `413`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request", "send the body as application/json")
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        }
        // `body_text` says what serde found: the line/column, the unknown field, the wrong type.
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Query-string parameters; a bad one is `400 invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_error(rejection)),
        }
    }
}

fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}

/// Path parameters. One that does not parse (an id that is no id, bytes that are no UTF-8) is
/// `400 invalid_request`, like a bad query or body; a bad `PathId` names the field `id`. A
/// route whose parameters do not match its handler is our bug: a logged 500.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    if let PathRejection::FailedToDeserializePathParams(e) = &rejection {
        match e.kind() {
            ErrorKind::WrongNumberOfParameters { .. } | ErrorKind::UnsupportedType { .. } => {}
            // Only `PathId` and `PathRef` speak in their own words (serde's custom error).
            ErrorKind::Message(why) => {
                let field = if why.ends_with(NOT_A_REF) { "ref" } else { "id" };
                return ApiError::bad_request(why.clone()).with_field(field);
            }
            _ => return ApiError::bad_request(e.body_text()),
        }
    }
    tracing::error!(error = %rejection.body_text(), "a route's path parameters do not fit its handler");
    ApiError::internal()
}

/// The id of a record in a path: a positive integer in plain digits that fits an `i64` (ids
/// start at 1; no sign, no spaces, no leading `+`). Anything else is `400 invalid_request`
/// (field `id`) through `ApiPath`, before the store is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub i64);

impl PathId {
    pub fn parse(raw: &str) -> Option<PathId> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        raw.parse::<i64>().ok().filter(|id| *id > 0).map(PathId)
    }
}

impl<'de> Deserialize<'de> for PathId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        PathId::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("{raw:?} is not an id: ids are positive integers")))
    }
}

/// A contact reference in a path (`{ref}`): an id in the form of a `PathId`, `phone:<number>` or
/// `email:<address>`; the number or address itself is checked by `ContactRef::parse`, which
/// needs the workspace's region. Anything else is `400 invalid_request` (field `ref`) before
/// the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRef(pub String);

const NOT_A_REF: &str = "is no contact reference: an id, phone:<number> or email:<address>";

impl<'de> Deserialize<'de> for PathRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if raw.starts_with("phone:") || raw.starts_with("email:") || PathId::parse(&raw).is_some() {
            Ok(PathRef(raw))
        } else {
            Err(serde::de::Error::custom(format!("{raw:?} {NOT_A_REF}")))
        }
    }
}

/// The `limit` of a list route: `default` when absent, else between 1 and `max`, refused in the
/// same words everywhere.
pub fn list_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!("limit is between 1 and {max}")).with_field("limit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_id_is_a_positive_integer_in_plain_digits() {
        assert_eq!(PathId::parse("1"), Some(PathId(1)));
        assert_eq!(PathId::parse("9223372036854775807"), Some(PathId(i64::MAX)));
        for bad in ["", "abc", "1x", "-1", "0", "+1", " 1", "1 ", "1.0", "9223372036854775808", "99999999999999999999"]
        {
            assert_eq!(PathId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_contact_reference_in_a_path_is_an_id_a_phone_or_an_email() {
        let parse = |raw: &str| serde_json::from_value::<PathRef>(serde_json::Value::from(raw));
        for good in ["1", "phone:+33612345678", "email:ana@example.com"] {
            assert_eq!(parse(good).unwrap(), PathRef(good.to_owned()));
        }
        for bad in ["abc", "+1", "-1", "0", "tel:+33612345678"] {
            assert!(parse(bad).unwrap_err().to_string().ends_with(NOT_A_REF), "{bad:?}");
        }
    }

    #[test]
    fn a_list_limit_has_a_default_and_bounds_and_one_refusal() {
        assert_eq!(list_limit(None, 50, 200).unwrap(), 50);
        assert_eq!(list_limit(Some(200), 50, 200).unwrap(), 200);
        for bad in [0, 201] {
            let refused = list_limit(Some(bad), 50, 200).unwrap_err();
            assert_eq!((refused.status, refused.code), (StatusCode::BAD_REQUEST, "invalid_request"));
            assert_eq!(
                (refused.message.as_str(), refused.field.as_deref()),
                ("limit is between 1 and 200", Some("limit"))
            );
        }
    }
}
