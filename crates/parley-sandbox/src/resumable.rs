//! Meta's Resumable Upload API (spec/meta-cloud-api.md §6.11), which gives the handles template
//! header examples and the business profile photo take: `POST /<version>/app/uploads?file_name=
//! …&file_length=…&file_type=…` opens a session (`{"id": "upload:…"}`), then `POST /<version>/
//! upload:…` with `Authorization: OAuth <token>` and `file_offset: 0` sends the bytes and answers
//! `{"h": "4::…"}`. Any registered number's token is accepted (a token belongs to an app). The
//! sandbox takes the whole file in one call; resuming a cut upload is not simulated.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use crate::Inner;
use crate::graph::{GraphError, bearer};

/// Meta's largest sample (a document header); bigger sessions are refused when opened.
const MAX_FILE_LENGTH: u64 = 100 * 1024 * 1024;
/// What Meta takes for template samples and profile photos.
const FILE_TYPES: &[&str] = &["image/jpeg", "image/jpg", "image/png", "video/mp4", "application/pdf"];

/// An open session: what the opening call announced.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    file_length: u64,
    file_type: String,
}

/// A finished upload, kept so tests can see what arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedSample {
    pub file_name: String,
    pub file_type: String,
    pub bytes: usize,
}

#[derive(Default)]
pub(crate) struct Uploads {
    sessions: HashMap<String, (Session, String)>,
    handles: HashMap<String, UploadedSample>,
}

/// Meta's second call says `OAuth <token>` where every other call says `Bearer <token>`.
fn oauth(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("OAuth ")
}

fn token_known(inner: &Inner, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    inner.numbers.lock().expect("numbers").values().any(|n| n.access_token == token)
}

/// `POST /<version>/<app id or "app">/uploads`.
pub(crate) async fn open(
    State(inner): State<Arc<Inner>>,
    Path((_version, _app)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !token_known(&inner, bearer(&headers)) {
        return GraphError::unauthorized().into_response();
    }
    let length =
        params.get("file_length").and_then(|l| l.parse::<u64>().ok()).filter(|l| (1..=MAX_FILE_LENGTH).contains(l));
    let Some(file_length) = length else {
        return GraphError::invalid("Invalid parameter: file_length must be a positive size up to 100 MB")
            .into_response();
    };
    let file_type = params.get("file_type").map(|t| t.to_ascii_lowercase()).unwrap_or_default();
    if !FILE_TYPES.contains(&file_type.as_str()) {
        return GraphError::invalid(format!("Invalid parameter: file_type {file_type:?} is not supported"))
            .into_response();
    }
    let file_name = params.get("file_name").cloned().unwrap_or_else(|| "file".into());
    let id = format!("upload:{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()));
    let session = Session { file_length, file_type };
    inner.uploads.lock().expect("uploads").sessions.insert(id.clone(), (session, file_name));
    Json(json!({"id": id})).into_response()
}

/// `POST /<version>/upload:…`: the whole file at offset 0.
pub(crate) async fn send(inner: &Inner, id: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    if !token_known(inner, oauth(headers)) {
        return GraphError::unauthorized().into_response();
    }
    let offset = headers.get("file_offset").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if offset != Some(0) {
        return GraphError::invalid("Invalid parameter: file_offset must be 0 (the sandbox takes whole files)")
            .into_response();
    }
    let mut uploads = inner.uploads.lock().expect("uploads");
    let Some((session, file_name)) = uploads.sessions.get(id).cloned() else {
        return GraphError::no_object().into_response();
    };
    if body.len() as u64 != session.file_length {
        let message =
            format!("Invalid parameter: {} bytes sent, the session announced {}", body.len(), session.file_length);
        return GraphError::invalid(message).into_response();
    }
    uploads.sessions.remove(id);
    let handle = format!("4::{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 18]>()));
    let sample = UploadedSample { file_name, file_type: session.file_type, bytes: body.len() };
    uploads.handles.insert(handle.clone(), sample);
    Json(json!({"h": handle})).into_response()
}

impl crate::Sandbox {
    /// The file a Resumable Upload handle stands for, if the sandbox issued it.
    pub fn uploaded_sample(&self, handle: &str) -> Option<UploadedSample> {
        self.inner.uploads.lock().expect("uploads").handles.get(handle).cloned()
    }
}
