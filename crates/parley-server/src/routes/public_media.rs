//! Files Parley serves to providers by link (issue 20): Twilio and MessageBird take an outgoing
//! file as a URL they fetch, not as an upload. A file uploaded for such a number is kept by
//! Parley under a `parley-upload-…` media id; when a message with it goes out, the dispatcher
//! swaps the id for a link to `GET /media/public/{token}`, where the token names the workspace,
//! the number, the file and an expiry, signed with a key derived from the server's secret key;
//! the file is served only if it was uploaded for that number.
//!
//! Decisions: the link lives `LINK_SECS` (a provider fetches at send time; a day covers its
//! retries); a wrong, altered or expired token is a plain 404, saying nothing of the files;
//! the file is served as an attachment with `nosniff`, like every customer file.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use hmac::{Hmac, Mac};
use parley_core::Timestamp;
use parley_core::channel::ChannelId;
use parley_core::ids::WorkspaceId;
use parley_core::message::{Content, Media, PARLEY_UPLOAD_PREFIX};
use parley_store::Viewer;
use sha2::Sha256;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::workers::media::media_path;

/// How long a link opens its file.
pub const LINK_SECS: i64 = 24 * 3600;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(public_file))
}

/// Whose file a link opens: the workspace and the number it was uploaded for.
pub type Owner = (WorkspaceId, ChannelId);

fn signature(key: &[u8; 32], (ws, channel): Owner, expires: i64, media_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{}.{}.{expires}.{media_id}", ws.get(), channel.get()).as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..20])
}

/// The token for a file uploaded for `owner`'s number, open until `expires` (Unix seconds).
pub fn token(key: &[u8; 32], owner: Owner, media_id: &str, expires: i64) -> String {
    let (ws, channel) = owner;
    format!("{}.{}.{expires}.{media_id}.{}", ws.get(), channel.get(), signature(key, owner, expires, media_id))
}

/// Whose file a token opens at `now`, and its media id; `None` when it is malformed, altered,
/// for another kind of file or expired.
pub fn verify(key: &[u8; 32], token: &str, now: Timestamp) -> Option<(Owner, String)> {
    let mut parts = token.splitn(4, '.');
    let ws = WorkspaceId(parts.next()?.parse().ok()?);
    let channel = ChannelId(parts.next()?.parse().ok()?);
    let expires: i64 = parts.next()?.parse().ok()?;
    let (media_id, given) = parts.next()?.rsplit_once('.')?;
    if !media_id.starts_with(PARLEY_UPLOAD_PREFIX) || expires < now.as_micros() / 1_000_000 {
        return None;
    }
    let expected = signature(key, (ws, channel), expires, media_id);
    let right = bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()));
    right.then(|| ((ws, channel), media_id.to_owned()))
}

/// The content with every file Parley keeps swapped for a signed link to it (the same
/// content when it has none). `Err` says why no link can be made.
pub fn with_links(state: &AppState, owner: Owner, content: &Content) -> Result<Option<Content>, String> {
    let media = match content {
        Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) | Content::Sticker(m) => m,
        _ => return Ok(None),
    };
    let Some(media_id) = media.parley_upload() else { return Ok(None) };
    if state.public_url.is_empty() {
        return Err("the file is served by Parley: set the server's public_url so the provider can fetch it".into());
    }
    let expires = state.clock.now().as_micros() / 1_000_000 + LINK_SECS;
    let token = token(state.secrets.link_key(), owner, media_id, expires);
    let link = format!("{}/media/public/{token}", state.public_url.trim_end_matches('/'));
    let linked = Media { id: None, link: Some(link), ..media.clone() };
    let mut out = content.clone();
    match &mut out {
        Content::Image(m) | Content::Audio(m) | Content::Video(m) | Content::Document(m) | Content::Sticker(m) => {
            *m = linked
        }
        _ => {}
    }
    Ok(Some(out))
}

/// A file Parley serves to a provider by signed link (no token: the link is the credential).
#[utoipa::path(get, path = "/media/public/{token}", tag = "messages", params(("token" = String, Path)),
    responses((status = 200, description = "the file, as an attachment"), (status = 404, body = ErrorBody)))]
async fn public_file(State(state): State<AppState>, ApiPath(token): ApiPath<String>) -> ApiResult<Response> {
    let ((ws, channel), media_id) =
        verify(state.secrets.link_key(), &token, state.clock.now()).ok_or_else(ApiError::not_found)?;
    let upload = state.store.upload_by_provider_id(ws, Viewer::All, &media_id).await?;
    // Only a file uploaded for the number that sends it.
    if upload.channel_id != channel {
        return Err(ApiError::not_found());
    }
    let served =
        ServeFile::new(media_path(&state.media_dir, &upload.sha256)).oneshot(Request::new(Body::empty())).await;
    let mut response = match served {
        Ok(r) if r.status().is_success() => r.map(Body::new),
        _ => return Err(ApiError::not_found()),
    };
    let headers = crate::media_response::media_headers(Some(&upload.mime_type), || {
        crate::media_response::safe_filename(upload.filename.as_deref(), upload.id, Some(&upload.mime_type))
    });
    response.headers_mut().extend(headers);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const ID: &str = "parley-upload-00112233445566778899aabbccddeeff";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    #[test]
    fn a_token_opens_its_file_until_it_expires() {
        let owner = (WorkspaceId(3), ChannelId(5));
        let t = token(&KEY, owner, ID, 1_000);
        assert_eq!(verify(&KEY, &t, at(999)), Some((owner, ID.to_owned())));
        assert_eq!(verify(&KEY, &t, at(1_000)), Some((owner, ID.to_owned())));
        assert_eq!(verify(&KEY, &t, at(1_001)), None, "expired");
        assert_eq!(verify(&[8; 32], &t, at(999)), None, "another server's key");
    }

    #[test]
    fn an_altered_token_opens_nothing() {
        let t = token(&KEY, (WorkspaceId(3), ChannelId(5)), ID, 1_000);
        for forged in [
            t.replacen("3.", "4.", 1),
            t.replacen(".5.", ".6.", 1),
            t.replacen(".1000.", ".9999.", 1),
            t.replacen("aabb", "aabc", 1),
            format!("{t}0"),
            t[..t.len() - 1].to_owned(),
            String::new(),
            "3.5.1000".into(),
            "x.5.1000.parley-upload-1.00".into(),
        ] {
            assert_eq!(verify(&KEY, &forged, at(0)), None, "{forged}");
        }
        // Only Parley's own uploads are ever served, whatever is signed.
        let other = token(&KEY, (WorkspaceId(3), ChannelId(5)), "1234567890", 1_000);
        assert_eq!(verify(&KEY, &other, at(0)), None);
    }
}
