//! Calls to Twilio's REST API for one channel: Basic auth with the Account SID and Auth Token,
//! to the channel's base URL only after the outbound guard passed it (Twilio's host, or one the
//! server allows such as the sandbox).

use serde_json::Value;

use super::check_api_base_url;
use super::send::{classify, sent_sid};
use crate::guard::{Refused, TWILIO_HOSTS, Targets, check_url};
use crate::meta::client::{GraphError, OutboundPolicy, download_bounded};
use crate::meta::send::SendError;

/// A Twilio client for one account.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
    policy: OutboundPolicy,
}

impl std::fmt::Debug for TwilioClient {
    // The Auth Token never goes to a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    /// Refused when the base URL does not pass the guard (the setting may have changed since the
    /// channel was saved). `http` should come from `guard::guarded_client` with the same list.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        account_sid: &str,
        auth_token: &str,
        policy: &OutboundPolicy,
    ) -> Result<Self, Refused> {
        check_api_base_url(base_url, &policy.allow)?;
        Ok(TwilioClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            policy: policy.clone(),
        })
    }

    /// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: the message's SID (`SM…`).
    pub async fn send_message(&self, form: &[(String, String)]) -> Result<String, SendError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid);
        let request = self.http.post(&url).basic_auth(&self.account_sid, Some(&self.auth_token)).form(form);
        let resp = request.send().await.map_err(crate::answer::not_sent)?;
        let (status, json, retry_after) = crate::answer::read(resp).await?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &json, retry_after));
        }
        sent_sid(&json).ok_or_else(|| SendError::Ambiguous("Twilio accepted the request but returned no SID".into()))
    }

    /// Downloads a received file from its `MediaUrl`: Twilio's API host (or one the server
    /// allows) with the account's credentials, which Twilio redirects to its CDN (the
    /// credentials are not sent there); bounded in size and time like every download.
    pub async fn download(&self, media_url: &str) -> Result<(Vec<u8>, Option<String>), GraphError> {
        // The credentials go only where the channel's own API is: a media link elsewhere (a
        // forged post's) is refused before anything is sent.
        if !media_url.starts_with(&format!("{}/", self.base_url)) {
            return Err(GraphError::NotAllowed(Refused::NotAllowed(media_url.chars().take(100).collect())));
        }
        let url = check_url(media_url, Targets::Official(TWILIO_HOSTS), &self.policy.allow)
            .map_err(GraphError::NotAllowed)?;
        let request = self.http.get(url).basic_auth(&self.account_sid, Some(&self.auth_token));
        download_bounded(request, &self.policy).await
    }

    /// Every Content template with its WhatsApp approval (`GET /v1/ContentAndApprovals`, every
    /// page). Next pages are followed only on the channel's own Content base, never a host the
    /// answer names.
    pub async fn list_content(&self) -> Result<Vec<Value>, GraphError> {
        let base = super::content::content_base(&self.base_url);
        let first = format!("{base}/v1/ContentAndApprovals?PageSize=100");
        let mut url = first;
        let mut out = Vec::new();
        for _ in 0..100 {
            let checked =
                check_url(&url, Targets::Official(TWILIO_HOSTS), &self.policy.allow).map_err(GraphError::NotAllowed)?;
            let resp = self
                .http
                .get(checked)
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .send()
                .await
                .map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            if !resp.status().is_success() {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                return Err(if status.is_server_error() || status.as_u16() == 429 {
                    GraphError::Transient(format!("Twilio answered {status}"))
                } else {
                    GraphError::Refused(format!(
                        "Twilio answered {status}: {}",
                        body.chars().take(200).collect::<String>()
                    ))
                });
            }
            let page: Value = resp.json().await.map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            out.extend(page.get("contents").and_then(Value::as_array).cloned().unwrap_or_default());
            match page.pointer("/meta/next_page_url").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                Some(next) if next.starts_with(&format!("{base}/")) => url = next.to_owned(),
                // A next page we will not follow: the list is incomplete, and an incomplete list
                // would mark the templates of the pages not read as deleted.
                Some(_) => return Err(GraphError::Refused("Twilio named a next page outside its Content API".into())),
                None => return Ok(out),
            }
        }
        Ok(out)
    }
}
