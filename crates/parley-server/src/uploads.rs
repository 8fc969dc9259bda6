//! Uploads cannot fill the disk: per-user quotas on files and bytes (media uploads and CSV
//! imports share them), and a file being received that removes itself unless it is kept, so a
//! refused or abandoned upload (bad type, too large, over quota, provider refusal, client gone)
//! leaves nothing in the data dir.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parley_core::ids::UserId;

use crate::error::ApiError;

/// How much one user may upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadQuota {
    /// Files per minute (a burst of this many, then refilled evenly over the minute).
    pub files_per_minute: u32,
    /// Megabytes (MiB) per hour, same shape.
    pub mb_per_hour: u32,
}

impl Default for UploadQuota {
    fn default() -> Self {
        UploadQuota { files_per_minute: 30, mb_per_hour: 2048 }
    }
}

/// Counts each user's uploads against an `UploadQuota`. Bytes are counted in KiB, so an hour's
/// quota of up to 4 TiB fits governor's 32-bit cells.
#[derive(Clone)]
pub struct UploadLimiter {
    files: Arc<DefaultKeyedRateLimiter<UserId>>,
    kib: Arc<DefaultKeyedRateLimiter<UserId>>,
}

impl Default for UploadLimiter {
    fn default() -> Self {
        UploadLimiter::new(UploadQuota::default())
    }
}

fn non_zero(n: u64) -> NonZeroU32 {
    NonZeroU32::new(n.clamp(1, u64::from(u32::MAX)) as u32).expect("clamped to at least 1")
}

impl UploadLimiter {
    pub fn new(quota: UploadQuota) -> Self {
        let files = Quota::per_minute(non_zero(quota.files_per_minute.into()));
        let kib = Quota::per_hour(non_zero(u64::from(quota.mb_per_hour) * 1024));
        UploadLimiter { files: Arc::new(RateLimiter::keyed(files)), kib: Arc::new(RateLimiter::keyed(kib)) }
    }

    /// Counts one more file for `user`: 429 `upload_rate_limited` past the files per minute.
    pub fn start_file(&self, user: UserId) -> Result<(), ApiError> {
        self.forget_idle_users();
        self.files.check_key(&user).map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "upload_rate_limited",
                "too many uploads in the last minute; try again shortly",
            )
        })
    }

    /// Counts `bytes` more for `user`: 429 `upload_quota_exceeded` past the hour's quota (and
    /// then nothing is counted).
    pub fn take_bytes(&self, user: UserId, bytes: u64) -> Result<(), ApiError> {
        if bytes == 0 {
            return Ok(());
        }
        match self.kib.check_key_n(&user, non_zero(bytes.div_ceil(1024))) {
            Ok(Ok(())) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "upload_quota_exceeded",
                "this upload would exceed your hourly upload quota; try again later",
            )),
        }
    }

    /// Forgets users whose quota is whole again, so the maps do not grow without bound.
    fn forget_idle_users(&self) {
        if self.files.len() > 100_000 {
            self.files.retain_recent();
            self.kib.retain_recent();
        }
    }
}

/// Counts a streamed upload's bytes against the quota chunk by chunk, in whole KiB (the
/// remainder is counted, rounded up, by `finish`).
pub struct ByteMeter<'a> {
    limiter: &'a UploadLimiter,
    user: UserId,
    uncounted: u64,
}

impl<'a> ByteMeter<'a> {
    pub fn new(limiter: &'a UploadLimiter, user: UserId) -> Self {
        ByteMeter { limiter, user, uncounted: 0 }
    }

    pub fn add(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.uncounted += bytes as u64;
        let whole = self.uncounted / 1024 * 1024;
        if whole >= 64 * 1024 {
            self.limiter.take_bytes(self.user, whole)?;
            self.uncounted -= whole;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), ApiError> {
        self.limiter.take_bytes(self.user, self.uncounted)
    }
}

/// A file being received: removed when dropped, unless `keep` was called. A handler that
/// returns an error, or whose client hangs up mid-upload (the future is dropped), leaves nothing.
#[derive(Debug)]
pub struct PendingFile(Option<PathBuf>);

impl PendingFile {
    pub fn new(path: PathBuf) -> Self {
        PendingFile(Some(path))
    }

    pub fn path(&self) -> &Path {
        self.0.as_deref().expect("a pending file has its path until kept")
    }

    /// The file stays; its path.
    pub fn keep(mut self) -> PathBuf {
        self.0.take().expect("a pending file has its path until kept")
    }
}

impl PendingFile {
    /// Removes the file now, off the runtime's threads: a handler that refuses an upload awaits
    /// this, so the refusal leaves nothing behind by the time it is answered.
    pub async fn discard(mut self) {
        if let Some(path) = self.0.take() {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        let Some(path) = self.0.take() else { return };
        // Dropped without `discard` (a client that hung up: the handler's future was dropped).
        // On the runtime, the removal goes to its blocking pool rather than stall a worker.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || std::fs::remove_file(path))),
            Err(_) => drop(std::fs::remove_file(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_per_minute_are_counted_per_user() {
        let limiter = UploadLimiter::new(UploadQuota { files_per_minute: 2, mb_per_hour: 1 });
        let (ana, bo) = (UserId(1), UserId(2));
        assert!(limiter.start_file(ana).is_ok());
        assert!(limiter.start_file(ana).is_ok());
        let refused = limiter.start_file(ana).unwrap_err();
        assert_eq!((refused.status, refused.code), (StatusCode::TOO_MANY_REQUESTS, "upload_rate_limited"));
        assert!(limiter.start_file(bo).is_ok(), "another user has their own quota");
    }

    #[test]
    fn bytes_per_hour_are_counted_in_kib_and_a_refusal_counts_nothing() {
        let limiter = UploadLimiter::new(UploadQuota { files_per_minute: 100, mb_per_hour: 1 });
        let ana = UserId(1);
        assert!(limiter.take_bytes(ana, 600 * 1024).is_ok());
        let refused = limiter.take_bytes(ana, 600 * 1024).unwrap_err();
        assert_eq!((refused.status, refused.code), (StatusCode::TOO_MANY_REQUESTS, "upload_quota_exceeded"));
        assert!(limiter.take_bytes(ana, 424 * 1024).is_ok(), "the refused 600 KiB were not counted");
        assert!(limiter.take_bytes(ana, 1).is_err(), "the MiB is spent; one byte counts as a KiB");
        assert!(limiter.take_bytes(ana, 0).is_ok());
        assert!(limiter.take_bytes(UserId(2), 2 * 1024 * 1024).is_err(), "larger than the whole quota");
    }

    #[test]
    fn a_streamed_upload_is_counted_as_it_arrives() {
        let limiter = UploadLimiter::new(UploadQuota { files_per_minute: 100, mb_per_hour: 1 });
        let mut meter = ByteMeter::new(&limiter, UserId(1));
        let mut refused = None;
        for i in 0..100 {
            if let Err(e) = meter.add(100 * 1024) {
                refused = Some(i);
                assert_eq!(e.code, "upload_quota_exceeded");
                break;
            }
        }
        assert_eq!(refused, Some(10), "stopped at the chunk that went past 1 MiB");
        let mut small = ByteMeter::new(&limiter, UserId(2));
        small.add(10).unwrap();
        small.finish().unwrap();
    }

    #[test]
    fn a_pending_file_goes_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (gone, kept) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&gone, b"x").unwrap();
        std::fs::write(&kept, b"y").unwrap();
        drop(PendingFile::new(gone.clone()));
        assert!(!gone.exists());
        assert_eq!(PendingFile::new(kept.clone()).keep(), kept);
        assert!(kept.exists());
    }
}
