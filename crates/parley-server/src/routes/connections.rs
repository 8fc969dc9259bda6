//! A number's connection to its provider, as an owner types it: which provider, the provider's
//! ids for the number and its account, the credentials, the API base URL. Checked here the
//! same way for connecting a number (`POST /channels`) and for moving one to another provider
//! (`POST /channels/{id}/move`, `channel_moves.rs`).

use parley_core::Invalid;
use parley_core::channel::{ChannelSecrets, Provider, check_base_url, check_provider_id, check_secret};
use parley_providers::meta::DEFAULT_GRAPH_BASE_URL;
use parley_providers::meta::client::check_graph_base_url;
use rand::RngCore;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How a number is reached at its provider (see `ChannelInput` for what each field is for each
/// provider).
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// `meta`, `360dialog`, `twilio` or `messagebird`.
    pub provider: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub access_token: String,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    /// Default: the provider's own API.
    pub graph_base_url: Option<String>,
}

/// A connection checked: the provider's ids as it writes them, a base URL the outbound guard
/// passes, the credentials as that provider needs them.
pub struct Connection {
    pub provider: Provider,
    pub phone_number_id: String,
    pub waba_id: String,
    pub graph_base_url: String,
    pub secrets: ChannelSecrets,
}

impl ConnectionInput {
    pub fn check(&self, state: &AppState) -> ApiResult<Connection> {
        let provider = Provider::parse(&self.provider)
            .ok_or_else(|| Invalid::request("provider", "supported providers: meta, 360dialog, twilio, messagebird"))?;
        let secrets = secrets_of(provider, self)?;
        let (phone_number_id, waba_id) = provider_ids(provider, self)?;
        let default_base = match provider {
            Provider::Meta => DEFAULT_GRAPH_BASE_URL,
            Provider::Twilio => parley_providers::twilio::DEFAULT_API_BASE_URL,
            Provider::Dialog360 => parley_providers::dialog360::DEFAULT_API_BASE_URL,
            Provider::MessageBird => parley_providers::messagebird::DEFAULT_API_BASE_URL,
        };
        let graph_base_url = allowed_base_url(state, provider, self.graph_base_url.as_deref().unwrap_or(default_base))?;
        Ok(Connection { provider, phone_number_id, waba_id, graph_base_url, secrets })
    }
}

pub(super) fn new_webhook_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A base URL in the API's form that the outbound guard passes (the provider's own API, or a
/// host the server's `allow_provider_hosts` names).
pub(super) fn allowed_base_url(state: &AppState, provider: Provider, raw: &str) -> ApiResult<String> {
    let url = check_base_url(raw)?;
    let checked = match provider {
        Provider::Meta => check_graph_base_url(&url, &state.outbound.allow),
        Provider::Twilio => parley_providers::twilio::check_api_base_url(&url, &state.outbound.allow),
        Provider::Dialog360 => parley_providers::dialog360::check_api_base_url(&url, &state.outbound.allow),
        Provider::MessageBird => parley_providers::messagebird::check_api_base_url(&url, &state.outbound.allow),
    };
    checked.map_err(|r| ApiError::url_not_allowed(&r, "graph_base_url"))?;
    Ok(url)
}

/// The channel's credentials from what the owner typed, as each provider needs them.
fn secrets_of(provider: Provider, input: &ConnectionInput) -> ApiResult<ChannelSecrets> {
    let access_token = check_secret("access_token", &input.access_token)?;
    let required = |field: &'static str, value: &Option<String>| match value {
        Some(v) => Ok(check_secret(field, v)?),
        None => Err(ApiError::from(Invalid::request(field, "is required for this provider"))),
    };
    Ok(match provider {
        Provider::Meta => ChannelSecrets {
            access_token,
            app_secret: required("app_secret", &input.app_secret)?,
            verify_token: required("verify_token", &input.verify_token)?,
        },
        Provider::Twilio => {
            if input.verify_token.is_some() {
                return Err(Invalid::request("verify_token", "Twilio has no webhook handshake: leave it out").into());
            }
            // Twilio signs webhooks with the Auth Token unless a SharedKey is set up.
            let app_secret = input.app_secret.as_deref().map(|t| check_secret("app_secret", t)).transpose()?;
            ChannelSecrets {
                app_secret: app_secret.unwrap_or_else(|| access_token.clone()),
                access_token,
                verify_token: String::new(),
            }
        }
        Provider::Dialog360 => {
            if input.verify_token.is_some() {
                return Err(Invalid::request(
                    "verify_token",
                    "360dialog has no webhook handshake: Parley makes its own webhook token",
                )
                .into());
            }
            // 360dialog does not sign webhooks like Meta: Parley registers its webhook with this
            // token in a header (`/channels/{id}/webhook/register`); the partner's own signature
            // is checked too when its secret is given.
            let app_secret = input.app_secret.as_deref().map(|t| check_secret("app_secret", t)).transpose()?;
            ChannelSecrets { access_token, app_secret: app_secret.unwrap_or_default(), verify_token: new_webhook_key() }
        }
        Provider::MessageBird => {
            if input.verify_token.is_some() {
                return Err(
                    Invalid::request("verify_token", "MessageBird has no webhook handshake: leave it out").into()
                );
            }
            // MessageBird signs webhooks with the account's signing key, not the access key.
            ChannelSecrets {
                access_token,
                app_secret: required("app_secret", &input.app_secret)?,
                verify_token: String::new(),
            }
        }
    })
}

/// The provider's ids, checked as that provider writes them.
fn provider_ids(provider: Provider, input: &ConnectionInput) -> ApiResult<(String, String)> {
    let number = check_provider_id("phone_number_id", &input.phone_number_id)?;
    let account = check_provider_id("waba_id", &input.waba_id)?;
    if provider == Provider::Twilio {
        if !(6..=15).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::request("phone_number_id", "Twilio: the sender's number, 6 to 15 digits").into());
        }
        if !(account.len() == 34 && account.starts_with("AC") && account[2..].bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(Invalid::request("waba_id", "Twilio: the Account SID (AC and 32 hex digits)").into());
        }
    }
    if provider == Provider::MessageBird && !(number.len() == 32 && number.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(
            Invalid::request("phone_number_id", "MessageBird: the WhatsApp channel's id (32 hex digits)").into()
        );
    }
    Ok((number, account))
}
