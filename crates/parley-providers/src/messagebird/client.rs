//! Calls to MessageBird's APIs for one channel: `Authorization: AccessKey <key>`, to the
//! channel's base URL only after the outbound guard passed it (MessageBird's hosts, or one the
//! server allows such as the sandbox). Sends go to the Conversations API (`POST /send`),
//! webhooks are set there (`POST /webhooks`), templates are read from the Integrations API
//! (`GET /v2/platforms/whatsapp/templates`), received files from the media host.

use serde_json::{Value, json};

use super::send::{classify, sent_id};
use super::{MESSAGEBIRD_HOSTS, MESSAGEBIRD_MEDIA_HOSTS, check_api_base_url, integrations_base};
use crate::guard::{Refused, Targets, check_url};
use crate::meta::client::{GraphError, OutboundPolicy, check, download_bounded};
use crate::meta::manage::ManageError;
use crate::meta::send::SendError;

/// Templates asked per page of the list.
const PAGE: usize = 100;

/// A MessageBird client for one channel.
#[derive(Clone)]
pub struct MessageBirdClient {
    http: reqwest::Client,
    base_url: String,
    access_key: String,
    policy: OutboundPolicy,
}

impl std::fmt::Debug for MessageBirdClient {
    // The access key never goes to a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageBirdClient").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl MessageBirdClient {
    /// Refused when the base URL does not pass the guard (the setting may have changed since the
    /// channel was saved). `http` should come from `guard::guarded_client` with the same list.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        access_key: &str,
        policy: &OutboundPolicy,
    ) -> Result<Self, Refused> {
        check_api_base_url(base_url, &policy.allow)?;
        Ok(MessageBirdClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            access_key: access_key.to_owned(),
            policy: policy.clone(),
        })
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header(reqwest::header::AUTHORIZATION, format!("AccessKey {}", self.access_key))
    }

    /// `POST /send`: the message's id.
    pub async fn send_message(&self, body: &Value) -> Result<String, SendError> {
        let url = format!("{}/send", self.base_url);
        let resp = self.authorized(self.http.post(&url)).json(body).send().await.map_err(crate::answer::not_sent)?;
        let (status, json, retry_after) = crate::answer::read(resp).await?;
        if !(200..300).contains(&status) {
            return Err(classify(status, &json, retry_after));
        }
        sent_id(&json)
            .ok_or_else(|| SendError::Ambiguous("MessageBird accepted the request but returned no message id".into()))
    }

    /// Downloads a received file from its URL, with the access key only on MessageBird's media
    /// host (or under the channel's own base URL, such as the sandbox's); bounded in size and
    /// time like every download.
    pub async fn download(&self, media_url: &str) -> Result<(Vec<u8>, Option<String>), GraphError> {
        let own = media_url.starts_with(&format!("{}/", self.base_url));
        let url = if own {
            check_url(media_url, Targets::Official(MESSAGEBIRD_HOSTS), &self.policy.allow)
        } else {
            check_url(media_url, Targets::Official(MESSAGEBIRD_MEDIA_HOSTS), &crate::guard::AllowList::default())
        }
        .map_err(GraphError::NotAllowed)?;
        download_bounded(self.authorized(self.http.get(url)), &self.policy).await
    }

    /// Every WhatsApp template of the account, page by page (`limit`, `offset`), each with its
    /// namespace and WhatsApp's verdict.
    pub async fn list_templates(&self) -> Result<Vec<Value>, GraphError> {
        let base = integrations_base(&self.base_url);
        let mut out = Vec::new();
        for page in 0..100 {
            let url = format!("{base}/v2/platforms/whatsapp/templates?limit={PAGE}&offset={}", page * PAGE);
            let url = check_url(&url, Targets::Official(MESSAGEBIRD_HOSTS), &self.policy.allow)
                .map_err(GraphError::NotAllowed)?;
            let resp = self
                .authorized(self.http.get(url))
                .send()
                .await
                .map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            let answer: Value =
                check(resp).await?.json().await.map_err(|e| GraphError::Transient(e.without_url().to_string()))?;
            // A list, or `{"items": [...]}` as the newer listings write it.
            let items = answer
                .as_array()
                .or_else(|| answer.get("items").and_then(Value::as_array))
                .cloned()
                .unwrap_or_default();
            let got = items.len();
            out.extend(items);
            if got < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /webhooks {channelId, events, url}`: MessageBird posts the channel's messages and
    /// their statuses to `url`, signed with the account's signing key.
    pub async fn register_webhook(&self, channel_id: &str, url: &str) -> Result<(), ManageError> {
        let body = json!({"channelId": channel_id, "events": ["message.created", "message.updated"], "url": url});
        let resp = self
            .authorized(self.http.post(format!("{}/webhooks", self.base_url)))
            .json(&body)
            .send()
            .await
            .map_err(|e| ManageError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500.. => Err(ManageError::Unavailable(format!("MessageBird answered {status}"))),
            _ => {
                let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let first = answer.pointer("/errors/0");
                Err(ManageError::Refused {
                    status,
                    code: first.and_then(|e| e.get("code")).and_then(Value::as_i64),
                    subcode: None,
                    message: first
                        .and_then(|e| e.get("description"))
                        .and_then(Value::as_str)
                        .map_or_else(|| text.chars().take(300).collect(), str::to_owned),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_key_goes_only_to_messagebirds_media_host_or_the_channels_own_base() {
        let allow = crate::guard::AllowList::parse(&["127.0.0.1"]).unwrap();
        let policy = OutboundPolicy { allow, ..OutboundPolicy::default() };
        let client =
            MessageBirdClient::new(reqwest::Client::new(), "http://127.0.0.1:9/messagebird", "key", &policy).unwrap();
        // Another loopback path than the channel's, and a host that is not MessageBird's: refused
        // before any request.
        for url in ["http://127.0.0.1:9/elsewhere/file", "https://attacker.example/media/1"] {
            assert!(matches!(client.download(url).await, Err(GraphError::NotAllowed(_))), "{url}");
        }
        let official = MessageBirdClient::new(
            reqwest::Client::new(),
            super::super::DEFAULT_API_BASE_URL,
            "k",
            &OutboundPolicy::default(),
        );
        assert!(official.is_ok());
        let elsewhere =
            MessageBirdClient::new(reqwest::Client::new(), "https://api.twilio.com", "k", &OutboundPolicy::default());
        assert!(elsewhere.is_err(), "the key goes to MessageBird only");
    }
}
