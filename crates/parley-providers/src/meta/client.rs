//! Calls to the Graph API: sending messages and read receipts, uploading media, and fetching
//! inbound media (`GET /<media id>` for a short-lived URL, then `GET <url>` with the same token).
//! Every URL goes through the outbound guard (`crate::guard`): the channel's base URL when the
//! client is made, the media URL the provider answers before the token is sent to it.
//!
//! The same client speaks to 360dialog's proxy of the Cloud API ([`Gateway::Dialog360`]): the
//! bodies and answers are Meta's; the key goes in `D360-API-KEY`, paths leave out the phone
//! number id (360dialog fills it in), media is fetched through 360dialog's host, and templates
//! live under `/v1/configs/templates` (`crate::dialog360`).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::send::{SendError, classify};
use crate::guard::{AllowList, DIALOG360_HOSTS, GRAPH_HOSTS, MEDIA_HOSTS, Refused, Targets, check_url};

/// Who answers a channel's Cloud API requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gateway {
    /// Meta's Graph API: `Authorization: Bearer`, message paths under the phone number id.
    Meta,
    /// 360dialog's proxy: `D360-API-KEY`, one key per number, paths without its id.
    Dialog360,
}

/// A Cloud API client for one channel (Meta's Graph API, or 360dialog's proxy of it).
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) token: String,
    pub(crate) gateway: Gateway,
    policy: OutboundPolicy,
}

impl std::fmt::Debug for GraphClient {
    // The token never goes to a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.base_url)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

/// What the server lets provider calls reach, and how much a media download may bring back.
#[derive(Clone, Debug)]
pub struct OutboundPolicy {
    /// Hosts allowed besides Meta's official ones (`allow_provider_hosts`).
    pub allow: AllowList,
    /// Largest media file downloaded; WhatsApp's largest (a document) is 100 MB.
    pub media_max_bytes: u64,
    /// Longest a media download may take, headers and body.
    pub media_timeout: Duration,
}

/// WhatsApp's largest media file: a 100 MB document.
pub const MEDIA_MAX_BYTES: u64 = 100 * 1024 * 1024;

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            allow: AllowList::default(),
            media_max_bytes: MEDIA_MAX_BYTES,
            media_timeout: Duration::from_secs(300),
        }
    }
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
    /// The URL is not one the outbound guard lets us call: nothing was sent.
    #[error("URL not allowed: {0}")]
    NotAllowed(Refused),
    /// The file is larger than the download cap: the download was stopped there.
    #[error("the file is larger than the {0}-byte limit")]
    TooLarge(u64),
}

/// `GET /<media id>`.
#[derive(Debug, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
}

/// Checks a channel's Graph API base URL: Meta's official host, or one the allow-list names.
pub fn check_graph_base_url(base_url: &str, allow: &AllowList) -> Result<(), Refused> {
    check_url(base_url, Targets::Official(GRAPH_HOSTS), allow).map(|_| ())
}

impl GraphClient {
    /// A client for the channel's base URL, refused when the guard does not pass it (the setting
    /// may have changed since the channel was saved). `http` should come from
    /// `guard::guarded_client` with the same allow-list.
    pub fn new(http: reqwest::Client, base_url: &str, token: &str, policy: &OutboundPolicy) -> Result<Self, Refused> {
        check_graph_base_url(base_url, &policy.allow)?;
        Ok(GraphClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            gateway: Gateway::Meta,
            policy: policy.clone(),
        })
    }

    /// A client for a number connected through 360dialog, with its `D360-API-KEY`; refused when
    /// the base URL is not 360dialog's (or one the allow-list names).
    pub fn dialog360(
        http: reqwest::Client,
        base_url: &str,
        api_key: &str,
        policy: &OutboundPolicy,
    ) -> Result<Self, Refused> {
        crate::dialog360::check_api_base_url(base_url, &policy.allow)?;
        Ok(GraphClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: api_key.to_owned(),
            gateway: Gateway::Dialog360,
            policy: policy.clone(),
        })
    }

    /// The request with the channel's credential in the gateway's header.
    pub(crate) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.gateway {
            Gateway::Meta => request.bearer_auth(&self.token),
            Gateway::Dialog360 => request.header(crate::dialog360::API_KEY_HEADER, &self.token),
        }
    }

    /// `<base>/<phone number id>/<what>` on Meta; `<base>/<what>` on 360dialog, which knows the
    /// number from the key (a number id in the path breaks the request there).
    fn number_url(&self, phone_number_id: &str, what: &str) -> String {
        match self.gateway {
            Gateway::Meta => format!("{}/{phone_number_id}/{what}", self.base_url),
            Gateway::Dialog360 => format!("{}/{what}", self.base_url),
        }
    }

    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, GraphError> {
        let url = format!("{}/{}", self.base_url, media_id);
        let resp =
            self.authorized(self.http.get(&url)).send().await.map_err(|e| GraphError::Transient(e.to_string()))?;
        let resp = check(resp).await?;
        resp.json::<MediaInfo>().await.map_err(|e| GraphError::Transient(format!("bad media info: {e}")))
    }

    /// Downloads the file behind a media URL (valid for a few minutes). The URL must pass the
    /// guard for Meta's media hosts (or the allow-list) before the token goes to it; the body is
    /// read chunk by chunk and the download stops past `media_max_bytes` or `media_timeout`.
    ///
    /// On 360dialog the URL Meta answered is fetched through 360dialog's host instead: the same
    /// path and query on the channel's base URL, with the key (360dialog's media docs).
    pub async fn download(&self, url: &str) -> Result<(Vec<u8>, Option<String>), GraphError> {
        let url = match self.gateway {
            Gateway::Meta => check_url(url, Targets::Official(MEDIA_HOSTS), &self.policy.allow),
            Gateway::Dialog360 => {
                let through = crate::dialog360::media_url(&self.base_url, url).map_err(GraphError::NotAllowed)?;
                check_url(&through, Targets::Official(DIALOG360_HOSTS), &self.policy.allow)
            }
        }
        .map_err(GraphError::NotAllowed)?;
        let request = self.authorized(self.http.get(url));
        download_bounded(request, &self.policy).await
    }
}

/// Sends a media download and reads its body chunk by chunk, stopping past the policy's
/// `media_max_bytes` or `media_timeout` (for every provider's downloads).
pub(crate) async fn download_bounded(
    request: reqwest::RequestBuilder,
    policy: &OutboundPolicy,
) -> Result<(Vec<u8>, Option<String>), GraphError> {
    let max = policy.media_max_bytes;
    let read = async {
        let resp = request
            // Replaces the client's shorter timeout: a large file may take minutes.
            .timeout(policy.media_timeout)
            .send()
            .await
            .map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
        let mut resp = check(resp).await?;
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(GraphError::TooLarge(max));
        }
        let mime = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| GraphError::Transient(e.without_url().to_string()))? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(GraphError::TooLarge(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((bytes, mime))
    };
    match tokio::time::timeout(policy.media_timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(GraphError::Transient(format!("the download took longer than {:?}", policy.media_timeout))),
    }
}

impl GraphClient {
    /// `POST /<phone number id>/messages`: the provider's message id (`wamid.…`).
    pub async fn send_message(&self, phone_number_id: &str, body: &Value) -> Result<String, SendError> {
        let answer = self.post_json(phone_number_id, body).await?;
        answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SendError::Ambiguous("the provider accepted the request but returned no message id".into()))
    }

    /// Marks an inbound message (and the earlier ones) read.
    /// Marks `message_id` (and the earlier ones) read; with `typing`, the customer also sees
    /// WhatsApp's typing indicator (until the next message, or 25 seconds).
    pub async fn mark_read(&self, phone_number_id: &str, message_id: &str, typing: bool) -> Result<(), SendError> {
        let mut body = serde_json::json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id});
        if typing {
            body["typing_indicator"] = serde_json::json!({"type": "text"});
        }
        self.post_json(phone_number_id, &body).await.map(|_| ())
    }

    async fn post_json(&self, phone_number_id: &str, body: &Value) -> Result<Value, SendError> {
        let url = self.number_url(phone_number_id, "messages");
        let resp = self.authorized(self.http.post(&url)).json(body).send().await.map_err(crate::answer::not_sent)?;
        let (status, json, retry_after) = crate::answer::read(resp).await?;
        if (200..300).contains(&status) { Ok(json) } else { Err(classify(status, &json, retry_after)) }
    }

    /// `GET /<WABA id>/message_templates`, every page. The `after` cursor is followed on our own
    /// base URL, never a host the answer names; errors carry no URL (Meta's `next` links hold the
    /// access token). On 360dialog: its template list (`crate::dialog360`).
    pub async fn list_templates(&self, waba_id: &str) -> Result<Vec<Value>, GraphError> {
        if self.gateway == Gateway::Dialog360 {
            return self.list_360dialog_templates().await;
        }
        let mut out = Vec::new();
        let first = format!("{}/{}/message_templates?limit=100", self.base_url, waba_id);
        let mut url = first.clone();
        for _ in 0..100 {
            let resp = self
                .authorized(self.http.get(&url))
                .send()
                .await
                .map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            let page: Value =
                check(resp).await?.json().await.map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            out.extend(page.get("data").and_then(Value::as_array).cloned().unwrap_or_default());
            let more = page.pointer("/paging/next").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
            let cursor = page.pointer("/paging/cursors/after").and_then(Value::as_str).unwrap_or_default();
            if !more || cursor.is_empty() || !cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)) {
                break;
            }
            url = format!("{first}&after={cursor}");
        }
        Ok(out)
    }

    /// `POST /<phone number id>/media`: uploads a file, returns the provider's media id.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        bytes: Vec<u8>,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let url = self.number_url(phone_number_id, "media");
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|e| GraphError::Refused(format!("bad MIME type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", part);
        let resp = self
            .authorized(self.http.post(&url))
            .multipart(form)
            .send()
            .await
            .map_err(|e| GraphError::Transient(e.to_string()))?;
        let resp = check(resp).await?;
        let json: Value = resp.json().await.map_err(|e| GraphError::Transient(e.to_string()))?;
        json.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Refused("no media id in the answer".into()))
    }
}

pub(crate) async fn check(resp: reqwest::Response) -> Result<reqwest::Response, GraphError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn official_only() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    #[test]
    fn a_client_is_refused_for_a_base_url_the_guard_refuses() {
        let http = reqwest::Client::new();
        assert!(GraphClient::new(http.clone(), "https://graph.facebook.com/v24.0", "t", &official_only()).is_ok());
        for base in ["http://127.0.0.1:9000/v24.0", "https://evil.example/v24.0", "https://10.0.0.1/v24.0"] {
            assert!(GraphClient::new(http.clone(), base, "t", &official_only()).is_err(), "{base}");
        }
        let sandbox = OutboundPolicy { allow: AllowList::parse(&["127.0.0.1:9000"]).unwrap(), ..official_only() };
        assert!(GraphClient::new(http, "http://127.0.0.1:9000/v24.0", "t", &sandbox).is_ok());
    }

    #[tokio::test]
    async fn a_download_url_outside_the_media_hosts_is_refused_before_any_request() {
        let client =
            GraphClient::new(reqwest::Client::new(), "https://graph.facebook.com/v24.0", "t", &official_only())
                .unwrap();
        // Port 1 on loopback: a request would fail as Transient, not NotAllowed.
        for url in ["http://127.0.0.1:1/file", "https://evil.example/file", "https://user@lookaside.fbsbx.com/x"] {
            assert!(matches!(client.download(url).await, Err(GraphError::NotAllowed(_))), "{url}");
        }
    }
}
