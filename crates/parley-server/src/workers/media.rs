//! Downloads inbound media after the webhook committed (ARCHITECTURE.md "In"): asks the provider
//! for a fresh URL (they expire after 5 minutes), downloads with the channel's token, checks the
//! provider's checksum, and stores the file content-addressed under `<data>/media/ab/abcdef…`.
//! Failures retry with exponential backoff and jitter; after `MAX_ATTEMPTS` the attachment is
//! marked failed (the message itself is never lost). A file is fetched through the connection
//! that delivered it, which after a move to another provider is the old one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use parley_core::channel::{Channel, Provider};
use parley_providers::meta::client::GraphError;
use parley_store::{MediaJob, Viewer};
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::AppState;

pub const MAX_ATTEMPTS: i64 = 8;
const LEASE_SECS: i64 = 120;
const BATCH: u32 = 8;
/// How often the worker looks for retries that came due, when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);

/// Where a file with this SHA-256 (hex) lives.
pub fn media_path(media_dir: &Path, sha256_hex: &str) -> PathBuf {
    media_dir.join(&sha256_hex[..2.min(sha256_hex.len())]).join(sha256_hex)
}

/// The delay before retry number `attempts` (1-based): 5 s, 10 s, 20 s … capped at an hour,
/// plus up to 20 % jitter so a burst of failures does not retry in lockstep.
pub fn backoff_secs(attempts: i64) -> i64 {
    let base = 5i64.saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1)).min(3600);
    base + rand::rng().random_range(0..=base / 5)
}

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let worked = match work_once(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "media worker: store error");
                0
            }
        };
        if worked > 0 {
            continue;
        }
        tokio::select! {
            _ = state.media_wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Claims and processes one batch; returns how many jobs it handled.
pub async fn work_once(state: &AppState) -> Result<usize, parley_store::StoreError> {
    let now = state.clock.now();
    let jobs = state.store.claim_media(now, now.plus_secs(LEASE_SECS), BATCH).await?;
    let count = jobs.len();
    for job in jobs {
        let outcome = fetch(state, &job).await;
        let now = state.clock.now();
        match outcome {
            Ok((sha, size, mime)) => state.store.media_downloaded(job.id, &sha, size, mime.as_deref(), now).await?,
            Err(Failure::Permanent(reason)) => state.store.media_failed(job.id, &reason, None, now).await?,
            Err(Failure::Retry(reason)) if job.attempts >= MAX_ATTEMPTS => {
                state
                    .store
                    .media_failed(job.id, &format!("gave up after {} attempts: {reason}", job.attempts), None, now)
                    .await?
            }
            Err(Failure::Retry(reason)) => {
                let retry_at = now.plus_secs(backoff_secs(job.attempts));
                tracing::info!(media = job.id.get(), attempts = job.attempts, %reason, "media download will be retried");
                state.store.media_failed(job.id, &reason, Some(retry_at), now).await?
            }
        }
    }
    Ok(count)
}

enum Failure {
    Retry(String),
    Permanent(String),
}

/// The connection that delivered the file: the channel as it is, or, after the number moved to
/// another provider, as the old provider knew it (its ids, base URL and credentials) — only it
/// can hand out the files of its late messages — or, before a planned move, as the new one
/// will.
async fn connection_of(state: &AppState, job: &MediaJob) -> Result<Channel, Failure> {
    let channel = state
        .store
        .channel(job.workspace_id, job.channel_id, Viewer::All)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    let Some(key) = job.connection_key.as_deref().filter(|k| *k != channel.webhook_key) else {
        return Ok(channel);
    };
    match crate::actions::channel_moves::channel_by_connection_key(state, key).await {
        Ok(Some(other)) if other.id == channel.id && other.workspace_id == channel.workspace_id => Ok(other),
        Ok(_) => Err(Failure::Permanent("the connection that delivered this file is no longer kept".into())),
        Err(e) => Err(Failure::Retry(e.to_string())),
    }
}

async fn fetch(state: &AppState, job: &MediaJob) -> Result<(String, i64, Option<String>), Failure> {
    let channel = connection_of(state, job).await?;
    let secrets = state
        .channel_secrets(&channel)
        .map_err(|_| Failure::Permanent("channel credentials cannot be opened".into()))?;
    let not_allowed = |refused| Failure::Permanent(format!("the channel's provider URL is not allowed: {refused}"));
    // Twilio's `MediaUrl` and MessageBird's `url` are the reference itself: fetched with the
    // channel's credentials; neither gives a checksum.
    let by_link = match channel.provider {
        Provider::Twilio => {
            let client = state.twilio_client(&channel, &secrets).map_err(not_allowed)?;
            Some(client.download(&job.provider_media_id).await)
        }
        Provider::MessageBird => {
            let client = state.messagebird_client(&channel, &secrets).map_err(not_allowed)?;
            Some(client.download(&job.provider_media_id).await)
        }
        Provider::Meta | Provider::Dialog360 => None,
    };
    if let Some(downloaded) = by_link {
        let (bytes, content_type) = downloaded.map_err(classify_download)?;
        let sha = hex::encode(Sha256::digest(&bytes));
        return keep(state, job, &bytes, sha, content_type).await;
    }
    let client = state.cloud_api_client(&channel, &secrets).map_err(not_allowed)?;
    let classify = |e: GraphError| match e {
        // 360dialog blocks a number's media downloads for 30 minutes after 20 errors in an
        // hour: a refused download is not tried again (its 429s and 5xx are).
        GraphError::Refused(m) if channel.provider == Provider::Dialog360 => {
            Failure::Permanent(format!("360dialog refused the download: {m}"))
        }
        other => classify_download(other),
    };
    let mut info = client.media_info(&job.provider_media_id).await.map_err(classify)?;
    let (bytes, content_type) = match client.download(&info.url).await {
        Ok(ok) => ok,
        // The URL expired between the two calls: ask for a fresh one once.
        Err(GraphError::NotFound) => {
            info = client.media_info(&job.provider_media_id).await.map_err(classify)?;
            client.download(&info.url).await.map_err(classify)?
        }
        Err(e) => return Err(classify(e)),
    };
    let digest = Sha256::digest(&bytes);
    if let Some(expected) = info.sha256.as_deref().filter(|s| !s.is_empty()) {
        let given_b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        if expected != given_b64 && !expected.eq_ignore_ascii_case(&hex::encode(digest)) {
            return Err(Failure::Retry("downloaded file does not match the provider's checksum".into()));
        }
    }
    keep(state, job, &bytes, hex::encode(digest), info.mime_type.or(content_type)).await
}

/// What a download's failure means for the job.
fn classify_download(e: GraphError) -> Failure {
    match e {
        GraphError::Transient(m) => Failure::Retry(m),
        GraphError::NotFound => Failure::Permanent("the provider no longer has this media".into()),
        GraphError::Refused(m) => Failure::Retry(m),
        // Neither changes on a retry: a URL outside the provider's hosts, a file past the cap.
        GraphError::NotAllowed(refused) => Failure::Permanent(format!("the media URL is not allowed: {refused}")),
        GraphError::TooLarge(max) => Failure::Permanent(format!("the file is larger than the {max}-byte limit")),
    }
}

/// Keeps a downloaded file under its SHA-256 (`sha`, hex): its hash, size and type (the
/// provider's, else the one the message announced).
async fn keep(
    state: &AppState,
    job: &MediaJob,
    bytes: &[u8],
    sha: String,
    mime: Option<String>,
) -> Result<(String, i64, Option<String>), Failure> {
    store_file(&state.media_dir, &sha, bytes).await.map_err(|e| Failure::Retry(format!("writing the file: {e}")))?;
    Ok((sha, bytes.len() as i64, mime.or_else(|| job.mime_type.clone())))
}

/// Writes the file atomically (temp file, then rename); an existing file with the same hash is
/// the same content and is kept.
pub async fn store_file(media_dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = media_path(media_dir, sha);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(media_dir);
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".{sha}.{}.tmp", rand::rng().random::<u32>()));
    let written = match tokio::fs::write(&tmp, bytes).await {
        Ok(()) => tokio::fs::rename(&tmp, &path).await,
        Err(e) => Err(e),
    };
    if written.is_err() {
        // A full disk must not keep half a file.
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        for attempts in 1..=30 {
            let d = backoff_secs(attempts);
            let base = 5i64.saturating_mul(1 << (attempts.clamp(1, 20) - 1)).min(3600);
            assert!(d >= base && d <= base + base / 5, "{attempts}: {d}");
        }
        assert!(backoff_secs(1) <= 6);
        assert!(backoff_secs(30) <= 4320);
    }

    #[test]
    fn paths_are_content_addressed() {
        assert_eq!(media_path(Path::new("/d"), "abcdef"), PathBuf::from("/d/ab/abcdef"));
    }
}
