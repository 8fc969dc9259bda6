//! What Parley reads from a number's provider: the number's health fields and its business
//! account's templates. Owners, managers and Parley itself (the periodic provider check in
//! `workers/provider_sync.rs`) may ask; what changed becomes events and notifications as a
//! webhook's would.

use axum::http::StatusCode;
use parley_core::channel::{Channel, Provider};
use parley_core::health::health_from_number_node;
use parley_providers::meta::manage::listed_template;
use parley_providers::twilio::content::listed_content;
use parley_store::{HealthFieldChange, ListedTemplate, SyncReport};

use super::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Reads the number's fields from the provider and records what changed.
pub async fn refresh_health(state: &AppState, actor: &Actor, channel: &Channel) -> ApiResult<Vec<HealthFieldChange>> {
    actor.require_admin()?;
    let node = state.graph_client(channel)?.phone_number(&channel.phone_number_id).await?;
    let change = health_from_number_node(&node);
    Ok(state.store.apply_health(channel.workspace_id, channel.id, &change, true, state.clock.now()).await?)
}

/// Fetches the account's templates from the provider and brings the stored ones in line.
pub async fn sync_templates(state: &AppState, actor: &Actor, channel: &Channel) -> ApiResult<SyncReport> {
    actor.require_admin()?;
    if channel.provider == Provider::Twilio {
        // Twilio's Content templates of the account (its Account SID stands for the WABA).
        let secrets = state.channel_secrets(channel)?;
        let client = state
            .twilio_client(channel, &secrets)
            .map_err(|refused| ApiError::url_not_allowed(&refused, "graph_base_url"))?;
        let all = client.list_content().await.map_err(|e| {
            ApiError::new(StatusCode::BAD_GATEWAY, "provider_unavailable", format!("listing templates failed: {e}"))
        })?;
        let records: Vec<ListedTemplate> = all.iter().filter_map(listed_content).collect();
        return Ok(state
            .store
            .sync_templates(channel.workspace_id, &channel.waba_id, &records, state.clock.now())
            .await?);
    }
    let client = state.graph_client(channel)?;
    let all = client.list_templates(&channel.waba_id).await.map_err(|e| {
        ApiError::new(StatusCode::BAD_GATEWAY, "provider_unavailable", format!("listing templates failed: {e}"))
    })?;
    let records: Vec<ListedTemplate> = all.iter().filter_map(listed_template).collect();
    Ok(state.store.sync_templates(channel.workspace_id, &channel.waba_id, &records, state.clock.now()).await?)
}
