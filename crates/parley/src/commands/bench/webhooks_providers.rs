//! The other providers' side of `parley bench webhooks --providers` (issue 20: ingest per
//! provider next to Meta's in the same run): a Twilio, a 360dialog and a MessageBird number on
//! the benchmark's workspace, and the benchmark's messages as each posts them, one event per
//! post, signed or authenticated as each does, each from customers of its own (new contacts, as
//! Meta's were).

use parley_core::channel::{ChannelSecrets, Provider, Visibility};
use parley_core::ids::WorkspaceId;
use parley_core::{Clock, SystemClock};
use parley_providers::twilio::signature::{Algorithm, sign};
use parley_server::secrets::SecretBox;
use parley_store::{NewChannel, Store};
use serde_json::json;

use super::webhooks::{APP_SECRET, Signing, Target};

const ACCOUNT: &str = "AC0000000000000000000000000000be0c";
const NUMBER: &str = "14155238886";
const D360_NUMBER: &str = "360000000000b";
const MB_CHANNEL: &str = "00000000000000000000000000be0c00";

/// One provider's number on the benchmark's workspace.
pub(super) struct ProviderNumber {
    pub name: &'static str,
    pub path: String,
    pub signing: Signing,
    /// Which customers post to it: the `offset`-th run of `count` after Meta's.
    offset: usize,
}

/// A Twilio, a 360dialog and a MessageBird number beside the benchmark's Meta one.
pub(super) async fn numbers(
    store: &dyn Store,
    ws: WorkspaceId,
    secret_box: &SecretBox,
) -> anyhow::Result<Vec<ProviderNumber>> {
    let numbers = [
        (Provider::Twilio, NUMBER, ACCOUNT, String::new(), Signing::Twilio),
        // 360dialog's token is Parley's own (the verify token field); no partner signature.
        (Provider::Dialog360, D360_NUMBER, "W360", APP_SECRET.to_owned(), Signing::Dialog360),
        (Provider::MessageBird, MB_CHANNEL, "WMB", String::new(), Signing::MessageBird),
    ];
    let mut out = Vec::new();
    for (offset, (provider, id, account, verify_token, signing)) in numbers.into_iter().enumerate() {
        let app_secret = if provider == Provider::Dialog360 { String::new() } else { APP_SECRET.to_owned() };
        let secrets = ChannelSecrets { access_token: APP_SECRET.into(), app_secret, verify_token };
        let channel = NewChannel {
            provider,
            name: format!("Bench {}", provider.as_str()),
            phone_number_id: id.into(),
            waba_id: account.into(),
            display_phone_number: "15550002222".into(),
            graph_base_url: "http://127.0.0.1:9".into(),
            sealed_secrets: secret_box.seal(&serde_json::to_vec(&secrets)?),
            webhook_key: format!("bench{}key", provider.as_str()),
            visibility: Visibility::Shared,
            throughput: 80,
        };
        let path = store.create_channel(ws, channel, SystemClock.now()).await?.webhook_path();
        out.push(ProviderNumber { name: provider.as_str(), path, signing, offset: offset + 1 });
    }
    Ok(out)
}

/// `requests` inbound messages as `number`'s provider posts them to `url`, each with its
/// signature (or token), from as many customers as Meta's run had, in turn.
pub(super) fn bodies(number: &ProviderNumber, target: &Target, url: &str, requests: usize) -> Vec<(Vec<u8>, String)> {
    let salt: u32 = rand::random();
    let customer = |r: usize| (target.customers)(target.count * number.offset + r % target.count);
    match number.signing {
        Signing::Twilio => twilio_bodies(target, url, requests, salt, &customer),
        Signing::Dialog360 => (0..requests)
            .map(|r| {
                let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "W360", "changes": [{"field": "messages",
                    "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550002222", "phone_number_id": D360_NUMBER},
                    "contacts": [{"profile": {"name": "Bench"}, "wa_id": customer(r)}],
                    "messages": [{"from": customer(r), "id": format!("wamid.D360{salt:08x}{r:010}"),
                        "timestamp": SystemClock.now().as_secs().to_string(), "type": "text",
                        "text": {"body": format!("order {r} is late, can you check?")}}]}}]}]});
                (body.to_string().into_bytes(), APP_SECRET.to_owned())
            })
            .collect(),
        Signing::MessageBird => (0..requests)
            .map(|r| {
                let body = json!({"type": "message.created", "contact": {"id": format!("c{r}"), "displayName": "Bench"},
                    "message": {"id": format!("mb{salt:08x}{r:010}"), "channelId": MB_CHANNEL, "platform": "whatsapp",
                        "from": format!("+{}", customer(r)), "to": "+15550002222", "direction": "received", "status": "received",
                        "type": "text", "content": {"text": format!("order {r} is late, can you check?")}}})
                .to_string()
                .into_bytes();
                let jti = format!("{salt:08x}{r:010}");
                let token = parley_providers::messagebird::signature::sign(APP_SECRET, url, &body, SystemClock.now(), 3600, Some(jti));
                (body, token)
            })
            .collect(),
        Signing::Meta => Vec::new(),
    }
}

/// Twilio's form posts, each signed with the Auth Token.
fn twilio_bodies(
    _target: &Target,
    url: &str,
    requests: usize,
    salt: u32,
    customer: &dyn Fn(usize) -> String,
) -> Vec<(Vec<u8>, String)> {
    (0..requests)
        .map(|r| {
            let customer = customer(r);
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
