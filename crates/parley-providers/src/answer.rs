//! A send's HTTP exchange read the same way for every provider: a request that never reached
//! the provider may be tried again, one that may have left has an unknown outcome; an answer is
//! its status, its JSON (or the start of its text) and the provider's `Retry-After`.

use std::time::Duration;

use serde_json::Value;

use crate::meta::send::SendError;

/// What a failed request means for the message.
pub(crate) fn not_sent(e: reqwest::Error) -> SendError {
    if e.is_connect() {
        // Never reached the provider: safe to try again.
        SendError::Retry { code: None, title: format!("connection failed: {}", e.without_url()), after: None }
    } else {
        // The request may have left: the outcome is unknown.
        SendError::Ambiguous(e.without_url().to_string())
    }
}

/// The answer's status, body and `Retry-After` (seconds).
pub(crate) async fn read(resp: reqwest::Response) -> Result<(u16, Value, Option<Duration>), SendError> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.text().await.map_err(|e| SendError::Ambiguous(format!("reading the answer: {e}")))?;
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text.chars().take(300).collect()));
    Ok((status, json, retry_after))
}
