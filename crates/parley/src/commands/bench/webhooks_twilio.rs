//! The Twilio side of `parley bench webhooks --twilio` (issue 20: ingest per provider next to
//! Meta's in the same run): a Twilio number on the benchmark's workspace, and the benchmark's
//! messages as Twilio posts them, one signed form post each, from the same customers.

use parley_core::channel::{ChannelSecrets, Provider, Visibility};
use parley_core::ids::WorkspaceId;
use parley_core::{Clock, SystemClock};
use parley_providers::twilio::signature::{Algorithm, sign};
use parley_server::secrets::SecretBox;
use parley_store::{NewChannel, Store};

use super::webhooks::{APP_SECRET, Target};

const ACCOUNT: &str = "AC0000000000000000000000000000be0c";
const NUMBER: &str = "14155238886";

/// A Twilio number beside the benchmark's Meta one (its Auth Token signs); its webhook path.
pub(super) async fn twilio_number(
    store: &dyn Store,
    ws: WorkspaceId,
    secret_box: &SecretBox,
) -> anyhow::Result<String> {
    let secrets =
        ChannelSecrets { access_token: APP_SECRET.into(), app_secret: APP_SECRET.into(), verify_token: String::new() };
    let channel = NewChannel {
        provider: Provider::Twilio,
        name: "Bench Twilio".into(),
        phone_number_id: NUMBER.into(),
        waba_id: ACCOUNT.into(),
        display_phone_number: NUMBER.into(),
        graph_base_url: "http://127.0.0.1:9".into(),
        sealed_secrets: secret_box.seal(&serde_json::to_vec(&secrets)?),
        webhook_key: "benchtwiliokey".into(),
        visibility: Visibility::Shared,
        throughput: 80,
    };
    Ok(store.create_channel(ws, channel, SystemClock.now()).await?.webhook_path())
}

/// `requests` inbound messages as Twilio's form posts to `url`, each with its signature, from
/// as many customers as Meta's run had, in turn.
pub(super) fn bodies(target: &Target, url: &str, requests: usize) -> Vec<(Vec<u8>, String)> {
    let salt: u32 = rand::random();
    (0..requests)
        .map(|r| {
            // Customers after Meta's: new contacts on an empty database, as Meta's were (at
            // scale both are among the existing contacts).
            let customer = (target.customers)(target.count + r % target.count);
            let form: Vec<(String, String)> = [
                ("MessageSid", format!("SM{salt:08x}{r:024}")),
                ("AccountSid", ACCOUNT.to_owned()),
                ("From", format!("whatsapp:+{customer}")),
                ("To", format!("whatsapp:+{NUMBER}")),
                ("WaId", customer.clone()),
                ("ProfileName", "Bench".to_owned()),
                ("Body", format!("order {r} is late, can you check?")),
                ("NumMedia", "0".to_owned()),
                ("MessageType", "text".to_owned()),
                ("SmsStatus", "received".to_owned()),
                ("ApiVersion", "2010-04-01".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let signature = sign(APP_SECRET, Algorithm::Sha1, url, &form);
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish().into_bytes();
            (body, signature)
        })
        .collect()
}
