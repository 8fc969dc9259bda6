//! Calls to the Graph API. Today: fetching inbound media (`GET /<media id>` for a short-lived
//! URL, then `GET <url>` with the same token).

use std::time::Duration;

use serde::Deserialize;

/// A Graph API client for one channel.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

/// What went wrong talking to the provider, classified for retrying.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Worth retrying later: network trouble, timeouts, 5xx, throttling.
    #[error("temporary provider error: {0}")]
    Transient(String),
    /// The media is gone (404 on the media id): retrying will not help.
    #[error("not found at the provider")]
    NotFound,
    /// The provider refused our credentials or the request.
    #[error("provider refused the request: {0}")]
    Refused(String),
}

/// `GET /<media id>`.
#[derive(Debug, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
}

impl GraphClient {
    pub fn new(http: reqwest::Client, base_url: &str, token: &str) -> Self {
        GraphClient { http, base_url: base_url.trim_end_matches('/').to_owned(), token: token.to_owned() }
    }

    /// A shared HTTP client with sensible timeouts.
    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default()
    }

    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, GraphError> {
        let url = format!("{}/{}", self.base_url, media_id);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| GraphError::Transient(e.to_string()))?;
        let resp = check(resp).await?;
        resp.json::<MediaInfo>().await.map_err(|e| GraphError::Transient(format!("bad media info: {e}")))
    }

    /// Downloads the file behind a media URL (valid for a few minutes).
    pub async fn download(&self, url: &str) -> Result<(Vec<u8>, Option<String>), GraphError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| GraphError::Transient(e.to_string()))?;
        let resp = check(resp).await?;
        let mime = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| GraphError::Transient(e.to_string()))?;
        Ok((bytes.to_vec(), mime))
    }
}

async fn check(resp: reqwest::Response) -> Result<reqwest::Response, GraphError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let detail: String = body.chars().take(300).collect();
    Err(match status.as_u16() {
        404 => GraphError::NotFound,
        408 | 429 | 500..=599 => GraphError::Transient(format!("HTTP {status}: {detail}")),
        _ => GraphError::Refused(format!("HTTP {status}: {detail}")),
    })
}
