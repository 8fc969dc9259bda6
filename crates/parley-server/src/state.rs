//! What every handler and worker can reach.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_core::Clock;
use parley_core::channel::{Channel, ChannelSecrets, Provider};
use parley_providers::guard::{AllowList, guarded_client, guarded_client_without_redirects, webhook_client};
use parley_providers::meta::client::{GraphClient, OutboundPolicy};
use parley_providers::twilio::client::TwilioClient;
use parley_store::Store;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::ingest::Ingest;
use crate::journal::Journal;
use crate::secrets::SecretBox;

/// Every handler and worker holds one; a clone is one reference count, whatever the state holds
/// (axum clones it for each request). Fields are reached through it; setting one (at start-up)
/// changes this handle's copy only, as it did when the state was cloned field by field.
#[derive(Clone)]
pub struct AppState(Arc<AppStateFields>);

impl std::ops::Deref for AppState {
    type Target = AppStateFields;

    fn deref(&self) -> &AppStateFields {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut AppStateFields {
        Arc::make_mut(&mut self.0)
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct AppStateFields {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Seals and opens channel credentials.
    pub secrets: Arc<SecretBox>,
    /// For calls to providers (media downloads, sends): resolves names through the outbound
    /// guard. Built from `outbound.allow`: change both with `allow_provider_hosts`.
    pub http: reqwest::Client,
    /// The same, following no redirect: for 360dialog, whose key is a header of its own.
    pub http_without_redirects: reqwest::Client,
    /// For outgoing webhooks: the same guard and allow-list, no redirects, a short timeout.
    pub webhook_http: reqwest::Client,
    /// How outgoing webhooks are delivered (timeouts, polling); tests shorten them.
    pub outgoing: crate::workers::outgoing::OutgoingConfig,
    /// Where provider calls may go (`allow_provider_hosts`) and the media download caps.
    pub outbound: OutboundPolicy,
    /// Per-user upload quotas (media uploads and CSV imports).
    pub upload_limiter: crate::uploads::UploadLimiter,
    /// Where downloaded media files live (content-addressed).
    pub media_dir: PathBuf,
    /// Wakes the media worker when a webhook brought attachments.
    pub media_wakeup: Arc<Notify>,
    /// Where uploaded CSV files wait for their import.
    pub imports_dir: PathBuf,
    /// Wakes the import worker when a file was uploaded.
    pub imports_wakeup: Arc<Notify>,
    /// Wakes the dispatcher when messages were queued.
    pub dispatch_wakeup: Arc<Notify>,
    /// Wakes the workflow runner when runs were started or woken.
    pub runs_wakeup: Arc<Notify>,
    /// This server among those sharing a database, in leases (outgoing webhooks). Random unless
    /// `parley serve` keeps one in its data dir, so a restarted server takes its leases back at
    /// once instead of waiting for them to expire.
    pub server_id: String,
    /// Counts webhook commits: followers of the event log (outgoing webhooks) wake on it, and
    /// poll for what the API and workers append.
    pub events_appended: Arc<tokio::sync::watch::Sender<u64>>,
    /// Wakes the outgoing webhook worker when subscriptions changed.
    pub outgoing_wakeup: Arc<Notify>,
    /// How the dispatcher sends (timeouts, concurrency); tests shorten the timeout.
    pub dispatch: crate::workers::dispatch::DispatchConfig,
    /// Applies webhooks, many per transaction under load.
    pub ingest: Ingest,
    /// Cloud API webhooks acknowledged before they are applied (`journal.rs`).
    pub journal: Journal,
    /// How often numbers and templates are checked with the provider (webhooks come first).
    pub provider_sync: crate::workers::provider_sync::ProviderSyncConfig,
    /// Turns true when the server begins to shut down: long-lived responses (event streams) end,
    /// so the graceful shutdown does not wait for them forever.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Channels by webhook key with their opened secrets, for a few seconds: a webhook does not
    /// need a query and a decryption each time.
    pub webhook_channels: Arc<ChannelCache>,
    /// Failed logins per (address, email) and per address, and the delays they impose.
    pub login_limiter: crate::web::login_limit::LoginLimiter,
    /// Proxies whose `X-Forwarded-For` names the client (none by default: it is not read).
    pub trusted_proxies: crate::web::client_ip::TrustedProxies,
    /// Live event streams: how many per user, how long, how often their rights are checked.
    pub streams: crate::streams::StreamLimits,
    /// How many passes the timers worker (snoozes, auto-close) has finished: a test that moved
    /// the clock waits for the next full pass instead of sleeping (see `workers/timers.rs`).
    pub timer_passes: Arc<tokio::sync::watch::Sender<u64>>,
    /// How many passes the dispatcher finished with nothing due and nothing on the wire: a test
    /// asserting that nothing more is sent waits for such passes instead of sleeping.
    pub dispatch_idle_passes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Dialogflow access tokens by service account (bots), reused until shortly before expiry.
    pub dialogflow_tokens: Arc<parley_providers::dialogflow::TokenCache>,
    /// `parley demo` only: the link that logs its owner in (see `web/demo.rs`).
    pub demo_sign_in: Option<Arc<crate::web::demo::DemoSignIn>>,
    /// Where people reach this server (`public_url`), for links in mail; empty: relative links.
    pub public_url: String,
    /// MessageBird signature tokens already taken (replays are refused).
    pub seen_webhook_tokens: Arc<crate::routes::webhooks_messagebird::SeenTokens>,
    /// MessageBird contact metadata already applied (repeats skip the contact's read).
    pub messagebird_metadata: Arc<crate::routes::webhooks_messagebird::MetadataSeen>,
    /// Card payments for WhatsApp fees (`[stripe]`), when set up.
    pub payments: Option<Arc<crate::payments::Payments>>,
    /// Outgoing mail (`[mail]`), when set up: fee alerts.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
}

/// A short-lived cache of webhook channels. Changes through this server's API clear it; other
/// servers sharing a PostgreSQL database see a change within `TTL`.
#[derive(Default)]
pub struct ChannelCache(Mutex<HashMap<String, CachedChannel>>);

type CachedChannel = (Instant, Arc<Channel>, Arc<ChannelSecrets>);

impl ChannelCache {
    const TTL: Duration = Duration::from_secs(5);

    pub fn get(&self, key: &str) -> Option<(Arc<Channel>, Arc<ChannelSecrets>)> {
        let map = self.0.lock().expect("channel cache");
        map.get(key).filter(|(at, ..)| at.elapsed() < Self::TTL).map(|(_, c, s)| (c.clone(), s.clone()))
    }

    pub fn put(&self, key: &str, channel: Arc<Channel>, secrets: Arc<ChannelSecrets>) {
        let mut map = self.0.lock().expect("channel cache");
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(key.to_owned(), (Instant::now(), channel, secrets));
    }

    pub fn clear(&self) {
        self.0.lock().expect("channel cache").clear();
    }
}

impl AppState {
    /// The state, and the ingest task it needs (so: call inside a Tokio runtime).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, secrets: SecretBox, data_dir: &Path) -> Self {
        let media_wakeup = Arc::new(Notify::new());
        let events_appended = Arc::new(tokio::sync::watch::channel(0).0);
        let journal = Journal::start(store.clone(), clock.clone());
        AppState(Arc::new(AppStateFields {
            ingest: Ingest::start(
                store.clone(),
                clock.clone(),
                media_wakeup.clone(),
                events_appended.clone(),
                journal.backlog.clone(),
            ),
            journal,
            events_appended,
            store,
            clock,
            secrets: Arc::new(secrets),
            http: guarded_client(&AllowList::default()),
            http_without_redirects: guarded_client_without_redirects(&AllowList::default()),
            webhook_http: webhook_client(
                &AllowList::default(),
                crate::workers::outgoing::OutgoingConfig::default().timeout,
            ),
            outgoing: Default::default(),
            outbound: OutboundPolicy::default(),
            upload_limiter: Default::default(),
            media_dir: data_dir.join("media"),
            imports_dir: data_dir.join("imports"),
            imports_wakeup: Arc::new(Notify::new()),
            media_wakeup,
            dispatch_wakeup: Arc::new(Notify::new()),
            runs_wakeup: Arc::new(Notify::new()),
            outgoing_wakeup: Arc::new(Notify::new()),
            server_id: format!("{:016x}", rand::random::<u64>()),
            dispatch: crate::workers::dispatch::DispatchConfig::default(),
            provider_sync: crate::workers::provider_sync::ProviderSyncConfig::default(),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
            timer_passes: Arc::new(tokio::sync::watch::channel(0).0),
            dialogflow_tokens: Default::default(),
            dispatch_idle_passes: Arc::new(tokio::sync::watch::channel(0).0),
            webhook_channels: Arc::default(),
            login_limiter: Default::default(),
            trusted_proxies: Default::default(),
            streams: Default::default(),
            demo_sign_in: None,
            public_url: String::new(),
            seen_webhook_tokens: Arc::default(),
            messagebird_metadata: Arc::default(),
            payments: None,
            mailer: None,
        }))
    }

    /// The channel's credentials in clear; an error if they cannot be opened (wrong key).
    pub fn channel_secrets(&self, channel: &Channel) -> Result<ChannelSecrets, ApiError> {
        let plain = self.secrets.open(&channel.sealed_secrets).map_err(|e| {
            tracing::error!(channel = channel.id.get(), error = %e, "cannot open channel secrets");
            ApiError::internal()
        })?;
        serde_json::from_slice(&plain).map_err(|_| ApiError::internal())
    }

    /// Lets provider calls reach these hosts or base URLs besides Meta's official ones (the
    /// sandbox, tests): the setting `allow_provider_hosts`.
    pub fn allow_provider_hosts(&mut self, allow: AllowList) {
        self.http = guarded_client(&allow);
        self.http_without_redirects = guarded_client_without_redirects(&allow);
        self.webhook_http = webhook_client(&allow, self.outgoing.timeout);
        self.outbound.allow = allow;
    }

    /// A Graph API client with the channel's credentials, for what only Meta's own API serves
    /// (number health, the business profile, template edits, `pricing_analytics`); refused
    /// (422 `url_not_allowed`) when the channel's base URL does not pass the outbound guard,
    /// before the token goes anywhere. A number connected through another provider is refused
    /// (422 `not_supported_by_provider`): its token never goes to Meta's API.
    pub fn graph_client(&self, channel: &Channel) -> Result<GraphClient, ApiError> {
        if !channel.provider.graph_api() {
            return Err(not_supported_by_provider(channel));
        }
        self.cloud_client(channel)
    }

    /// A Cloud API client for sends, media and templates: Meta's, or 360dialog's proxy of it.
    /// Refused like [`AppState::graph_client`] for a provider that does not speak the Cloud API.
    pub fn cloud_client(&self, channel: &Channel) -> Result<GraphClient, ApiError> {
        if !channel.provider.cloud_api() {
            return Err(not_supported_by_provider(channel));
        }
        let secrets = self.channel_secrets(channel)?;
        self.cloud_api_client(channel, &secrets)
            .map_err(|refused| ApiError::url_not_allowed(&refused, "graph_base_url"))
    }

    /// The Cloud API client of a channel whose secrets are open already (the workers'), for
    /// the gateway its provider names.
    pub fn cloud_api_client(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
    ) -> Result<GraphClient, parley_providers::guard::Refused> {
        let (base, token) = (channel.graph_base_url.as_str(), secrets.access_token.as_str());
        match channel.provider {
            // Its key is a header of its own, which a redirect would carry to the next host.
            Provider::Dialog360 => {
                GraphClient::dialog360(self.http_without_redirects.clone(), base, token, &self.outbound)
            }
            _ => GraphClient::new(self.http.clone(), base, token, &self.outbound),
        }
    }

    /// A Twilio client for the channel's account (its Account SID and Auth Token); refused when
    /// the channel's base URL does not pass the outbound guard, before the token goes anywhere.
    pub fn twilio_client(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
    ) -> Result<TwilioClient, parley_providers::guard::Refused> {
        TwilioClient::new(
            self.http.clone(),
            &channel.graph_base_url,
            &channel.waba_id,
            &secrets.access_token,
            &self.outbound,
        )
    }

    /// A MessageBird client with the channel's access key; refused when the channel's base URL
    /// does not pass the outbound guard, before the key goes anywhere.
    pub fn messagebird_client(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
    ) -> Result<parley_providers::messagebird::client::MessageBirdClient, parley_providers::guard::Refused> {
        parley_providers::messagebird::client::MessageBirdClient::new(
            self.http.clone(),
            &channel.graph_base_url,
            &secrets.access_token,
            &self.outbound,
        )
    }

    /// A Dialogflow client through the outbound guard, with the server's token cache.
    pub fn dialogflow(&self) -> parley_providers::dialogflow::DialogflowClient<'_> {
        parley_providers::dialogflow::DialogflowClient {
            http: &self.http,
            allow: &self.outbound.allow,
            tokens: &self.dialogflow_tokens,
        }
    }

    /// A bot's Dialogflow key, sealed (the fields Parley uses).
    pub fn seal_dialogflow_key(&self, key: &parley_providers::dialogflow::ServiceAccountKey) -> String {
        // Serializing six strings cannot fail.
        self.secrets.seal(&serde_json::to_vec(key).expect("key serializes"))
    }

    /// A bot's Dialogflow key, opened; an error if it cannot be (wrong key).
    pub fn dialogflow_key(&self, sealed: &str) -> Result<parley_providers::dialogflow::ServiceAccountKey, ApiError> {
        let plain = self.secrets.open(sealed).map_err(|e| {
            tracing::error!(error = %e, "cannot open a bot's Dialogflow key");
            ApiError::internal()
        })?;
        serde_json::from_slice(&plain).map_err(|_| ApiError::internal())
    }

    pub fn seal_secrets(&self, secrets: &ChannelSecrets) -> String {
        // Serializing three strings cannot fail.
        self.secrets.seal(&serde_json::to_vec(secrets).expect("secrets serialize"))
    }
}

/// What a channel's provider does not do in Parley: a 422 naming the provider and what it does.
pub fn not_supported_by_provider(channel: &Channel) -> ApiError {
    let provider = channel.provider.as_str();
    let does = match channel.provider {
        Provider::Twilio => "send text, media by link and synced Content templates",
        Provider::Dialog360 => "send every message type and create, delete and sync templates",
        Provider::MessageBird => "send text, media by link, locations and synced HSM templates",
        Provider::Meta => "do everything Parley offers",
    };
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "not_supported_by_provider",
        format!(
            "{provider} numbers in Parley {does}; this request asks for something {provider} does not offer \
             (docs/providers.md says what each provider serves)"
        ),
    )
}
