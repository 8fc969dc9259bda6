//! What every handler and worker can reach.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley_core::Clock;
use parley_core::channel::{Channel, ChannelSecrets};
use parley_store::Store;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::secrets::SecretBox;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Seals and opens channel credentials.
    pub secrets: Arc<SecretBox>,
    /// For calls to providers (media downloads, sends).
    pub http: reqwest::Client,
    /// Where downloaded media files live (content-addressed).
    pub media_dir: PathBuf,
    /// Wakes the media worker when a webhook brought attachments.
    pub media_wakeup: Arc<Notify>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, secrets: SecretBox, data_dir: &Path) -> Self {
        AppState {
            store,
            clock,
            secrets: Arc::new(secrets),
            http: parley_providers::meta::client::GraphClient::http_client(),
            media_dir: data_dir.join("media"),
            media_wakeup: Arc::new(Notify::new()),
        }
    }

    /// The channel's credentials in clear; an error if they cannot be opened (wrong key).
    pub fn channel_secrets(&self, channel: &Channel) -> Result<ChannelSecrets, ApiError> {
        let plain = self.secrets.open(&channel.sealed_secrets).map_err(|e| {
            tracing::error!(channel = channel.id.get(), error = %e, "cannot open channel secrets");
            ApiError::internal()
        })?;
        serde_json::from_slice(&plain).map_err(|_| ApiError::internal())
    }

    pub fn seal_secrets(&self, secrets: &ChannelSecrets) -> String {
        // Serializing three strings cannot fail.
        self.secrets.seal(&serde_json::to_vec(secrets).expect("secrets serialize"))
    }
}
