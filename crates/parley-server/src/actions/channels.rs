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

/// Fetches the account's templates from the provider and brings the stored ones in line:
/// the Cloud API's list (Meta, 360dialog), Twilio's Content templates (its Account SID stands
/// for the WABA), or MessageBird's, each with its account's namespace.
pub async fn sync_templates(state: &AppState, actor: &Actor, channel: &Channel) -> ApiResult<SyncReport> {
    actor.require_admin()?;
    let unavailable =
        |e| ApiError::new(StatusCode::BAD_GATEWAY, "provider_unavailable", format!("listing templates failed: {e}"));
    let not_allowed = |refused| ApiError::url_not_allowed(&refused, "graph_base_url");
    let records: Vec<ListedTemplate> = match channel.provider {
        Provider::Twilio => {
            let client = state.twilio_client(channel, &state.channel_secrets(channel)?).map_err(not_allowed)?;
            client.list_content().await.map_err(unavailable)?.iter().filter_map(listed_content).collect()
        }
        Provider::MessageBird => {
            let client = state.messagebird_client(channel, &state.channel_secrets(channel)?).map_err(not_allowed)?;
            let all = client.list_templates().await.map_err(unavailable)?;
            // The access key's account may hold several WhatsApp accounts: this number's only.
            let of_this_account = |t: &&serde_json::Value| {
                t.get("wabaId").and_then(serde_json::Value::as_str).is_none_or(|w| w == channel.waba_id)
            };
            all.iter()
                .filter(of_this_account)
                .filter_map(parley_providers::messagebird::templates::listed_template)
                .collect()
        }
        Provider::Meta | Provider::Dialog360 => {
            let all = state.cloud_client(channel)?.list_templates(&channel.waba_id).await.map_err(unavailable)?;
            all.iter().filter_map(listed_template).collect()
        }
    };
    Ok(state.store.sync_templates(channel.workspace_id, &channel.waba_id, &records, state.clock.now()).await?)
}
