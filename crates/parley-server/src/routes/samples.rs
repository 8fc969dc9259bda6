//! `POST /api/v1/channels/{id}/samples`: a sample file sent to the provider's Resumable Upload
//! API, answering the handle that a template's media header example
//! (`example.header_handle`) and the business profile photo (`profile_picture_handle`) take.
//! Owners and managers only, like the templates and the profile it serves. Nothing is stored
//! here: the provider keeps the file and the handle names it.
//!
//! Sizes follow what Meta takes for samples: images up to 5 MB, videos and PDF documents up to
//! 16 MB (Meta allows longer documents in messages, not as review samples worth the memory).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::actions::live_channel;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, PathId};
use crate::state::AppState;
use parley_core::ids::ChannelId;

/// The largest sample of any type; per-type limits are in [`size_limit`].
pub const SAMPLE_LIMIT: usize = 16 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload_sample)).layer(axum::extract::DefaultBodyLimit::max(SAMPLE_LIMIT))
}

/// The types a sample may have, and the largest size of each.
fn size_limit(mime: &str) -> Option<(usize, &'static str)> {
    match mime {
        "image/jpeg" | "image/png" => Some((5 * 1024 * 1024, "5 MB")),
        "video/mp4" | "application/pdf" => Some((SAMPLE_LIMIT, "16 MB")),
        _ => None,
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SampleParams {
    /// The file's name, as the reviewer will see it.
    file_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SampleHandle {
    /// Put it in `example.header_handle: [handle]` or `profile_picture_handle`.
    handle: String,
}

/// Upload a sample (owners and managers): the body is the file, `Content-Type` its type
/// (`image/jpeg`, `image/png` up to 5 MB; `video/mp4`, `application/pdf` up to 16 MB).
#[utoipa::path(post, path = "/channels/{id}/samples", tag = "templates", params(("id" = i64, Path), SampleParams),
    request_body(content = String, description = "the file", content_type = "application/octet-stream"),
    responses((status = 201, body = SampleHandle), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "the user's upload quota, shared with `/media`"),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
async fn upload_sample(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(PathId(id)): ApiPath<PathId>,
    ApiQuery(params): ApiQuery<SampleParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<SampleHandle>)> {
    auth.require_admin()?;
    let too_large = |limit: &str| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the sample is larger than {limit}"))
    };
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large("16 MB")
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mime = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let Some((limit, limit_words)) = size_limit(&mime) else {
        let message = format!("a sample must be a JPEG or PNG image, an MP4 video or a PDF document, not {mime:?}");
        return Err(ApiError::bad_request(message).with_field("content-type"));
    };
    if body.is_empty() {
        return Err(ApiError::bad_request("the file is empty"));
    }
    if body.len() > limit {
        return Err(too_large(limit_words));
    }
    let channel = live_channel(&state, &auth.actor(), ChannelId(id)).await?;
    // The same per-user quota as files sent in messages: samples cost the provider the same.
    state.upload_limiter.start_file(auth.user_id)?;
    state.upload_limiter.take_bytes(auth.user_id, body.len() as u64)?;
    let file_name = params.file_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "sample".into());
    let handle = state.graph_client(&channel)?.upload_sample(file_name.trim(), &mime, body.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(SampleHandle { handle })))
}
