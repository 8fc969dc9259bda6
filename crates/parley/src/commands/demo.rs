//! `parley demo`: Parley on SQLite in `./parley-demo` with the sandbox playing Meta, a demo
//! workspace, a connected WhatsApp number and customers writing in, so the whole product can be
//! tried on one machine with no Meta account. Re-running keeps the data and issues a fresh token
//! and a fresh sign-in link, which it opens in the browser (where there is one to open).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parley_core::account::Role;
use parley_core::bots::{DEFAULT_HANDOVER_KEYWORDS, HandoverSettings};
use parley_core::contact::ContactRef;
use parley_core::contact::{ContactInput, NewContact};
use parley_core::contacts_csv::{ImportMode, ImportOptions};
use parley_core::conversation::ConversationStatus;
use parley_core::dialogflow::{AgentInput, check_agent};
use parley_core::ids::{UserId, WorkspaceId};
use parley_core::message::Content;
use parley_core::outbound::OutboundMessage;
use parley_core::rules::judge;
use parley_core::{Clock, Email, SystemClock};
use parley_providers::dialogflow::ServiceAccountKey;
use parley_providers::guard::AllowList;
use parley_sandbox::{Customer, Fault, Sandbox, SandboxConfig, SandboxTemplate, Say, samples};
use parley_server::AppState;
use parley_server::actions::Actor;
use parley_server::auth::issue_token;
use parley_server::payments::{Payments, StripeSettings};
use parley_server::web::demo::DemoSignIn;
use parley_store::{
    BotDialogflow, ConversationQuery, DatabaseUrl, NewImport, NewUser, SendOutcome, SendRequest, Store, Viewer,
};
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;

use super::demo_numbers::{self, DEMO_NUMBER_ID, DEMO_WABA_ID};
use crate::commands::serve::{
    configure_outbound_and_uploads, configure_payments_and_mail, secret_box, shutdown_signal,
};
use crate::config::Config;

pub const DEMO_EMAIL: &str = "demo@parley.local";
pub const DEMO_PASSWORD: &str = "parley-demo-password";

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let store = parley_store::open(&config.database).await.context("opening the demo database")?;
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(store.clone(), Arc::new(SystemClock), secret_box(config)?, &config.data_dir);
    state.dispatch.send_timeout = config.send_timeout;
    state.trusted_proxies = config.trusted_proxies.clone();

    let sandbox = Sandbox::start(SandboxConfig::default()).await.context("starting the sandbox")?;
    configure_outbound_and_uploads(&mut state, config);
    // The demo's own sandbox plays Meta on loopback: provider calls may reach it (and only it,
    // besides what the configuration allows).
    let own_sandbox = AllowList::parse(&[sandbox.graph_base_url()]).map_err(anyhow::Error::msg)?;
    state.allow_provider_hosts(config.allow_provider_hosts.extended(&own_sandbox));
    configure_payments_and_mail(&mut state, config)?;
    if config.public_url == format!("http://{}", config.listen) {
        // Not set: the address actually bound (port 0 picks one), which the sandbox's Twilio
        // calls and signs.
        state.public_url = format!("http://{addr}");
    }
    if state.payments.is_none() {
        // Card top-ups through the sandbox's Stripe: its payment page takes a test card.
        state.payments = Some(Arc::new(sandbox_stripe(&state, &sandbox, addr)?));
    }
    let token = demo_token(&*store, &config.data_dir).await?;
    // The sample rate card (marked as such everywhere it shows): fees have prices to show.
    parley_server::fees::install_sample_card(&*store, SystemClock.now()).await?;
    let (owner, _) = store.user_for_login(&Email::parse(DEMO_EMAIL)?).await?.context("the demo owner is missing")?;
    let (sign_in, sign_in_secret) = DemoSignIn::new(owner.workspace_id, owner.id);
    state.demo_sign_in = Some(Arc::new(sign_in));
    demo_numbers::connect(&state, &sandbox, addr).await?;
    demo_fees(&*store, owner.workspace_id).await?;

    demo_templates(&sandbox);
    // The sandbox charges by the same sample card, so the nightly reconciliation agrees.
    sandbox.set_rate_card(parley_server::fees::sample_card());
    // Templates and the number's health, as a real number would show them.
    let round = parley_server::workers::provider_sync::sync_once(&state, true, true).await;
    if round.failures > 0 {
        eprintln!("warning: the first check with the sandbox failed; templates appear at the next sync");
    }

    let db = match &config.database {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        other => other.redacted(),
    };
    let sign_in_url = format!("http://{addr}/demo/sign-in/{sign_in_secret}");
    println!("Parley demo is running at http://{addr}  (database: {db})");
    println!("  open:      {sign_in_url}  (the inbox, logged in)");
    println!("  inbox:     http://{addr}/inbox");
    println!("  login:     {DEMO_EMAIL} / {DEMO_PASSWORD}");
    println!("  API token: {token}");
    println!("  try:       curl -H 'Authorization: Bearer {token}' http://{addr}/api/v1/conversations");
    println!("  API docs:  http://{addr}/api/openapi.json");
    println!(
        "  sandbox:   {} (plays Meta, Twilio and MessageBird; customers write in every few seconds)",
        sandbox.graph_base_url()
    );
    println!("  bot:       {DEMO_BOT} answers through the sandbox's Dialogflow agent (in Vietnamese)");
    println!("Press Ctrl-C to stop.");

    let bot = demo_bot(&state, &sandbox, owner.workspace_id).await.context("the demo's bot")?;
    tokio::spawn(bot_takes_a_conversation(state.clone(), owner.workspace_id, bot));
    tokio::spawn(lively(state.clone(), sandbox.clone()));
    tokio::spawn(customers_write(sandbox));
    open_in_browser(&sign_in_url);
    parley_server::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

const DEMO_BOT: &str = "Shop assistant";

/// The demo's bot, made on first run: its Dialogflow agent is the sandbox's shop agent, speaking
/// Vietnamese, set again on every run (the sandbox's address changes).
async fn demo_bot(state: &AppState, sandbox: &Sandbox, ws: WorkspaceId) -> anyhow::Result<UserId> {
    let store = &state.store;
    let now = SystemClock.now();
    let users = store.users(ws).await?;
    let bot = match users.iter().find(|u| u.bot && u.name == DEMO_BOT) {
        Some(bot) => bot.id,
        None => {
            let user = NewUser {
                email: Email::parse("shop-assistant@bots.parley.invalid")?,
                name: DEMO_BOT.into(),
                role: Role::Agent,
                password_hash: None,
            };
            let (bot, _) = store.create_bot(ws, user, issue_token(DEMO_BOT.into()).record, now).await?;
            let keywords = DEFAULT_HANDOVER_KEYWORDS.iter().map(|k| (*k).to_owned()).collect();
            let settings = HandoverSettings { keywords, silence_seconds: Some(300), max_turns: None };
            store.set_bot_settings(ws, bot.id, &settings).await?;
            bot.id
        }
    };
    let key = ServiceAccountKey::parse(&sandbox.dialogflow_key(), &state.outbound.allow)?;
    let agent = check_agent(AgentInput {
        edition: "es".into(),
        project: key.project_id.clone().unwrap_or_default(),
        language: Some("vi".into()),
        handover_intents: vec!["refund.request".into()],
        endpoint: Some(sandbox.dialogflow_endpoint()),
        ..AgentInput::default()
    })?;
    let record = BotDialogflow {
        agent,
        client_email: key.client_email.clone(),
        sealed_key: state.seal_dialogflow_key(&key),
        updated_at: now,
    };
    store.set_bot_dialogflow(ws, bot, Some(&record)).await?;
    Ok(bot)
}

/// Gives the Vietnamese customer's conversation to the bot once it is there (first run only:
/// afterwards it has an assignee or is closed).
async fn bot_takes_a_conversation(state: AppState, ws: WorkspaceId, bot: UserId) {
    let an = ContactRef::parse("phone:+84912345678", None).expect("demo number");
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(contact) = state.store.contact(ws, &an).await else { continue };
        let query = ConversationQuery { contact: Some(contact.id), limit: 1, ..ConversationQuery::default() };
        let Ok(page) = state.store.conversations(ws, &query).await else { continue };
        let Some(conversation) = page.items.first() else { continue };
        if conversation.assignee_id.is_none() && conversation.status != ConversationStatus::Closed {
            let parley = Actor::system(ws);
            if let Err(e) =
                parley_server::actions::conversations::assign(&state, &parley, conversation.id, Some(bot)).await
            {
                eprintln!("warning: the demo's bot was not given a conversation: {}", e.message);
            }
        }
        return;
    }
}

/// Opens `url` in the desktop's browser when someone is at a terminal of a desktop; never in CI,
/// over SSH without a display, or with `PARLEY_NO_BROWSER` set. Failing to open is not an error:
/// the URL is printed above.
fn open_in_browser(url: &str) {
    use std::io::IsTerminal;
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("CI") || set("PARLEY_NO_BROWSER") || !std::io::stdout().is_terminal() {
        return;
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        "xdg-open"
    } else {
        return;
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("(could not start {opener}; open the link above in a browser)");
    }
}

/// Bootstraps the demo workspace on first run; afterwards issues a new token for its owner.
async fn demo_token(store: &dyn Store, data_dir: &std::path::Path) -> anyhow::Result<String> {
    let now = SystemClock.now();
    let email = Email::parse(DEMO_EMAIL)?;
    if let Some((owner, _)) = store.user_for_login(&email).await? {
        let issued = issue_token("demo".into());
        store.create_token(owner.workspace_id, owner.id, issued.record, now).await?;
        return Ok(issued.secret);
    }
    let boot = parley_server::admin::bootstrap(store, "Demo Café", DEMO_EMAIL, DEMO_PASSWORD.into(), now)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let ws = boot.created.workspace.id;
    let people = [
        json!({"name": "Ana Lopez", "phone": "+34 612 345 678", "email": "ana@example.com", "tags": ["vip"], "fields": {"city": "Madrid"}}),
        json!({"name": "Élodie Martin", "phone": "0033 6 12 34 56 78", "email": "Elodie.Martin@example.fr", "tags": ["lead"]}),
        json!({"name": "Sam Carter", "phone": "+1 (202) 555-0173", "email": "sam@example.com"}),
    ];
    for person in people {
        let input: ContactInput = serde_json::from_value(person)?;
        store.create_contact(ws, NewContact::from_input(input, None)?, now).await?;
    }
    import_a_duplicate(store, ws, data_dir).await?;
    Ok(boot.token)
}

/// Stripe played by the sandbox, its events sent to this server with a secret made now.
fn sandbox_stripe(state: &AppState, sandbox: &Sandbox, addr: std::net::SocketAddr) -> anyhow::Result<Payments> {
    let hook = parley_sandbox::StripeHook {
        secret_key: "sk_test_parley_sandbox".into(),
        webhook_url: format!("http://{addr}/webhooks/stripe"),
        webhook_secret: format!("whsec_{:032x}", rand::random::<u128>()),
    };
    sandbox.configure_stripe(hook.clone());
    let settings = StripeSettings {
        secret_key: hook.secret_key,
        webhook_secret: hook.webhook_secret,
        api_base: sandbox.stripe_api_base(),
        public_url: format!("http://{addr}"),
        ..StripeSettings::default()
    };
    Payments::new(&settings, &state.outbound.allow).map_err(anyhow::Error::msg)
}

/// A fee account on the demo's WABA (postpaid, so the demo's chatter never stops) with a first
/// top-up, charged by the sample card.
async fn demo_fees(store: &dyn Store, ws: WorkspaceId) -> anyhow::Result<()> {
    use parley_core::fees::ledger::EntryKind;
    use parley_core::fees::{Currency, Micros};
    if !store.fee_accounts(ws).await?.is_empty() {
        return Ok(());
    }
    let now = SystemClock.now();
    let new = parley_store::NewFeeAccount {
        waba_id: DEMO_WABA_ID.into(),
        currency: Currency::parse("USD").map_err(anyhow::Error::msg)?,
        postpaid: true,
        credit_limit: Micros(1_000_000_000),
    };
    let account = store.open_fee_account(ws, new, now).await?;
    let top_up = parley_store::NewEntry {
        kind: EntryKind::TopUp,
        amount: Micros(25_000_000),
        reference: Some("demo:first".into()),
        message_id: None,
        market: None,
        category: None,
        pricing_type: None,
        pricing: None,
        by: None,
        reason: Some("demo credit".into()),
    };
    store.record_entry(ws, account.id, top_up, now).await?;
    Ok(())
}

/// Templates the demo business already has at "Meta": one to reach customers outside the 24 h
/// window, one marketing template. More can be created from the API; the sandbox approves them
/// (names containing `reject` are rejected, to see that too).
fn demo_templates(sandbox: &Sandbox) {
    let templates = [
        ("order_update", "UTILITY", "Hello {{1}}, your order {{2}} has shipped and arrives tomorrow."),
        ("spring_sale", "MARKETING", "Hi {{1}}, our spring collection is in store: 20% off this week."),
    ];
    for (name, category, body) in templates {
        sandbox.add_template(SandboxTemplate {
            waba_id: DEMO_WABA_ID.into(),
            name: name.into(),
            language: "en".into(),
            category: category.into(),
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": body}]),
        });
    }
}

/// A few customers write in at start, then one every few seconds.
async fn customers_write(sandbox: Sandbox) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let customers = [
        Customer::new("34612345678", "Ana Lopez"),
        Customer::new("84912345678", "Nguyễn Văn An"),
        Customer::new("5511991234567", "João Silva"),
        Customer::new("33612345678", "Élodie"),
        Customer::new("12025550173", "Sam"),
    ];
    // Real files, made by the sandbox: a photo, a voice note and a PDF (see `parley_sandbox::samples`).
    let photo = sandbox.add_media(samples::photo_png(), "image/png");
    let voice = sandbox.add_media(samples::voice_note_wav(), "audio/wav");
    let invoice = sandbox.add_media(
        samples::invoice_pdf(&[
            "Loja Paulista - Invoice A-1042",
            "",
            "Blue T-shirt (M)      1 x 19.90 EUR",
            "Total                  19.90 EUR",
        ]),
        "application/pdf",
    );
    let first = sandbox.say(DEMO_NUMBER_ID, &customers[0], Say::text("Hola! Do you have the blue one in size M?"));
    sandbox.say(DEMO_NUMBER_ID, &customers[0], Say::media("image", &photo, "image/png").caption("this one"));
    sandbox.say(DEMO_NUMBER_ID, &customers[2], Say::media("audio", &voice, "audio/wav"));
    sandbox.say(
        DEMO_NUMBER_ID,
        &customers[2],
        Say::media("document", &invoice, "application/pdf").filename("invoice-A-1042.pdf"),
    );
    sandbox.say(DEMO_NUMBER_ID, &customers[1], Say::text("Xin chào, cửa hàng mở cửa lúc mấy giờ?"));
    sandbox.say(DEMO_NUMBER_ID, &customers[2], Say::location(-23.5505, -46.6333, "Loja Paulista").from_ad("AD-42"));
    sandbox.say(DEMO_NUMBER_ID, &customers[3], Say::text("Bonjour, ma commande n'est pas arrivée."));
    sandbox.say(DEMO_NUMBER_ID, &customers[4], Say::text("Do you ship to the US?"));
    sandbox.say(DEMO_NUMBER_ID, &customers[0], Say::reaction(&first, Some("👍")));
    demo_numbers::other_providers_write(&sandbox);
    let lines = ["Any news?", "Thanks!", "Can I pay by card?", "Is delivery free?", "Merci beaucoup", "Cảm ơn bạn"];
    loop {
        let pause = rand::rng().random_range(8..20);
        tokio::time::sleep(Duration::from_secs(pause)).await;
        let who = &customers[rand::rng().random_range(0..customers.len())];
        let line = lines[rand::rng().random_range(0..lines.len())];
        sandbox.say(DEMO_NUMBER_ID, who, Say::text(line));
    }
}

/// An imported list that has Ana again under another name: the inbox shows a merge suggestion.
async fn import_a_duplicate(
    store: &dyn Store,
    ws: parley_core::ids::WorkspaceId,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    parley_store::create_private_dir(data_dir)?;
    let path = data_dir.join("demo-newsletter.csv");
    std::fs::write(&path, "name,phone,email\nAna L.,+34 612 345 678,ana.lopez@newsletter.example\n")?;
    let new = NewImport {
        filename: "demo-newsletter.csv".into(),
        path: path.to_string_lossy().into_owned(),
        options: ImportOptions { mode: ImportMode::AddAll, ..ImportOptions::default() },
        dry_run: false,
        bytes_total: std::fs::metadata(&path)?.len() as i64,
        created_by: None,
        held_until: Some(SystemClock.now().plus_secs(600)),
    };
    let import = store.create_import(ws, new, SystemClock.now()).await?;
    let mut on_batch = |_: &parley_store::Import| std::ops::ControlFlow::Continue(());
    parley_server::contacts_io::run_import(store, &SystemClock, import, None, &mut on_batch)
        .await
        .map_err(|e| anyhow::anyhow!("demo import: {e:?}"))?;
    Ok(())
}

/// What makes the demo inbox look lived in: a customer who wrote two days ago (outside the
/// 24-hour window, so the composer offers templates) and a reply that WhatsApp refused.
async fn lively(state: AppState, sandbox: Sandbox) {
    let two_days_ago = SystemClock.now().as_secs() - 2 * 24 * 3600;
    let marta = Customer::new("34699111222", "Marta Gómez");
    let old = sandbox.message_at(DEMO_NUMBER_ID, &marta, &Say::text("Do you have gift cards?"), two_days_ago);
    sandbox.deliver(vec![old], Default::default());
    let Ok(Some((owner, _))) = state.store.user_for_login(&Email::parse(DEMO_EMAIL).expect("demo email")).await else {
        return;
    };
    let channels = state.store.channels(owner.workspace_id, Viewer::All).await.unwrap_or_default();
    let Some(channel) = channels.into_iter().find(|c| c.phone_number_id == DEMO_NUMBER_ID) else { return };
    // The customer's phone turned out unreachable: WhatsApp accepts, then reports a failure.
    sandbox.inject(DEMO_NUMBER_ID, [Fault::FailLater(131026)]);
    let to = ContactRef::parse("phone:+12025550173", None).expect("demo number");
    let reply = [OutboundMessage {
        content: Content::Text { body: "Yes, we ship to the US!".into(), preview_url: None },
        reply_to: None,
    }];
    // Sam's question opens the window the reply needs; it arrives within a few seconds of start.
    for attempt in 0.. {
        let now = SystemClock.now();
        let request = SendRequest {
            ws: owner.workspace_id,
            viewer: Viewer::All,
            channel: channel.id,
            to: &to,
            messages: &reply,
            idempotency_key: Some("demo-failed-reply"),
            author: Some(owner.id),
            dry_run: false,
            personalize: None,
        };
        let why = match state.store.queue_send(request, &|facts, m| judge(facts, m, now), now).await {
            Ok(SendOutcome::Queued(_) | SendOutcome::Replayed(_)) => {
                state.dispatch_wakeup.notify_one();
                return;
            }
            // Refused until Sam's question has arrived and opened the window.
            Ok(SendOutcome::Refused { refusal, .. }) => refusal.code().to_owned(),
            Ok(SendOutcome::Allowed(_)) => "a dry run".to_owned(),
            Err(e) => e.to_string(),
        };
        if attempt >= 60 {
            eprintln!("warning: the demo's failed reply was not queued: {why}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
