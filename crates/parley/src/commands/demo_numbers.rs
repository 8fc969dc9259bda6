//! The demo's WhatsApp numbers, one per provider the sandbox plays: Meta's Cloud API, Twilio
//! and MessageBird, in one inbox. Each is created on the first run and pointed at this run's
//! sandbox afterwards; the sandbox is told where each number's posts go.

use anyhow::Context;
use parley_core::channel::{ChannelSecrets, Provider, Visibility};
use parley_core::{Clock, Email, SystemClock};
use parley_sandbox::{Customer, MessageBirdChannel, Number, Sandbox, TwilioNumber};
use parley_server::AppState;
use parley_store::{ChannelPatch, NewChannel, Viewer};
use rand::Rng;

use super::demo::DEMO_EMAIL;

pub const DEMO_NUMBER_ID: &str = "100000000000001";
pub const DEMO_WABA_ID: &str = "200000000000001";
const DEMO_SECRETS: (&str, &str, &str) = ("demo-access-token", "demo-app-secret", "demo-verify-token");
/// The demo's Twilio number: Account SID, Auth Token, the sender's number.
const DEMO_TWILIO: (&str, &str, &str) = ("AC00000000000000000000000000d3e0", "demo-twilio-auth-token", "14155238886");
/// The demo's MessageBird channel: its id, access key, signing key, number.
const DEMO_MESSAGEBIRD: (&str, &str, &str, &str) =
    ("d3e0000000000000000000000000b14d", "demo-messagebird-access-key", "demo-messagebird-signing-key", "31970102600");

/// One number as the demo connects it.
struct DemoNumber {
    provider: Provider,
    name: &'static str,
    phone_number_id: &'static str,
    waba_id: &'static str,
    display: &'static str,
    secrets: ChannelSecrets,
    base_url: String,
}

/// Connects the demo's numbers (or points them at this run's sandbox) and registers them with
/// the sandbox: Meta's posts go to the bound address `addr`; Twilio's and MessageBird's to
/// `public_url`, the address their signatures name.
pub async fn connect(state: &AppState, sandbox: &Sandbox, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let public = state.public_url.trim_end_matches('/').to_owned();
    let secrets = |access: &str, app: &str, verify: &str| ChannelSecrets {
        access_token: access.into(),
        app_secret: app.into(),
        verify_token: verify.into(),
    };
    let meta = ensure(
        state,
        DemoNumber {
            provider: Provider::Meta,
            name: "Demo WhatsApp",
            phone_number_id: DEMO_NUMBER_ID,
            waba_id: DEMO_WABA_ID,
            display: "15550001111",
            secrets: secrets(DEMO_SECRETS.0, DEMO_SECRETS.1, DEMO_SECRETS.2),
            base_url: sandbox.graph_base_url(),
        },
    )
    .await?;
    sandbox.add_number(Number {
        phone_number_id: DEMO_NUMBER_ID.into(),
        waba_id: DEMO_WABA_ID.into(),
        display_phone_number: "15550001111".into(),
        access_token: DEMO_SECRETS.0.into(),
        app_secret: DEMO_SECRETS.1.into(),
        webhook_url: format!("http://{addr}{meta}"),
    });
    let twilio = ensure(
        state,
        DemoNumber {
            provider: Provider::Twilio,
            name: "Demo Twilio",
            phone_number_id: DEMO_TWILIO.2,
            waba_id: DEMO_TWILIO.0,
            display: "+1 415 523 8886",
            secrets: secrets(DEMO_TWILIO.1, DEMO_TWILIO.1, ""),
            base_url: sandbox.twilio_api_base(),
        },
    )
    .await?;
    sandbox.add_twilio_number(TwilioNumber {
        account_sid: DEMO_TWILIO.0.into(),
        auth_token: DEMO_TWILIO.1.into(),
        number: DEMO_TWILIO.2.into(),
        webhook_url: format!("{public}{twilio}"),
    });
    let messagebird = ensure(
        state,
        DemoNumber {
            provider: Provider::MessageBird,
            name: "Demo MessageBird",
            phone_number_id: DEMO_MESSAGEBIRD.0,
            waba_id: "300000000000001",
            display: "+31 970 102 600",
            secrets: secrets(DEMO_MESSAGEBIRD.1, DEMO_MESSAGEBIRD.2, ""),
            base_url: sandbox.messagebird_api_base(),
        },
    )
    .await?;
    sandbox.add_messagebird_channel(MessageBirdChannel {
        channel_id: DEMO_MESSAGEBIRD.0.into(),
        access_key: DEMO_MESSAGEBIRD.1.into(),
        signing_key: DEMO_MESSAGEBIRD.2.into(),
        number: DEMO_MESSAGEBIRD.3.into(),
        waba_id: "300000000000001".into(),
        namespace: "demo_namespace".into(),
    });
    // As Parley's "set the webhook" does (`POST /webhooks` at MessageBird).
    sandbox.set_messagebird_webhook(DEMO_MESSAGEBIRD.0, &format!("{public}{messagebird}"));
    sandbox.add_messagebird_template(
        DEMO_MESSAGEBIRD.0,
        "order_update",
        "en",
        "Hello {{1}}, your order {{2}} has shipped and arrives tomorrow.",
        "APPROVED",
    );
    Ok(())
}

/// The number, created on first run, pointed at this run's sandbox afterwards; its webhook path.
async fn ensure(state: &AppState, number: DemoNumber) -> anyhow::Result<String> {
    let store = &state.store;
    let now = SystemClock.now();
    let (owner, _) = store.user_for_login(&Email::parse(DEMO_EMAIL)?).await?.context("the demo owner is missing")?;
    let ws = owner.workspace_id;
    let existing = store
        .channels(ws, Viewer::All)
        .await?
        .into_iter()
        .find(|c| c.provider == number.provider && c.phone_number_id == number.phone_number_id);
    let channel = match existing {
        Some(c) => {
            let patch = ChannelPatch { graph_base_url: Some(number.base_url), ..ChannelPatch::default() };
            store.update_channel(ws, c.id, patch, now).await?
        }
        None => {
            let new = NewChannel {
                provider: number.provider,
                name: number.name.into(),
                phone_number_id: number.phone_number_id.into(),
                waba_id: number.waba_id.into(),
                display_phone_number: number.display.into(),
                graph_base_url: number.base_url,
                sealed_secrets: state.seal_secrets(&number.secrets),
                webhook_key: format!("demo{:040x}", rand::rng().random::<u128>()),
                visibility: Visibility::Shared,
                throughput: 80,
            };
            store.create_channel(ws, new, now).await?
        }
    };
    Ok(channel.webhook_path())
}

/// Customers who write through the other providers' numbers: the same inbox, other providers.
pub fn other_providers_write(sandbox: &Sandbox) {
    let oliver = Customer::new("447700900123", "Oliver Bennett");
    sandbox.twilio_say(
        DEMO_TWILIO.2,
        &oliver,
        "Hello! I found you through your UK number, is the shop open on Sunday?",
    );
    let sanne = Customer::new("31612345678", "Sanne de Vries");
    let attributes = serde_json::json!({"Loyalty Tier": "gold", "city": "Utrecht"});
    sandbox.messagebird_say(DEMO_MESSAGEBIRD.0, &sanne, "Hoi! Do you deliver to the Netherlands?", attributes);
}
