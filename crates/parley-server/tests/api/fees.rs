//! WhatsApp fees (issue 19) through the API, on both engines: the rate card in force, for
//! owners and managers, marked when it is the sample.

use parley_core::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn owners_and_managers_read_the_card_in_force() {
    for app in TestApp::all().await {
        let e = app.engine();
        let none = app.get("/api/v1/fees/rates").await;
        assert_eq!(
            (none.status, none.body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("no_rate_card")),
            "{e}"
        );

        let now = app.clock.now();
        let installed = parley_server::fees::install_sample_card(&*app.db.store, now).await.unwrap();
        assert!(installed.is_some(), "{e}");
        assert!(parley_server::fees::install_sample_card(&*app.db.store, now).await.unwrap().is_none(), "once");

        // The test clock starts in June 2025, before the sample card; a month later it is in force.
        app.clock.advance_secs(30 * 86_400);
        let card = app.get("/api/v1/fees/rates").await;
        assert_eq!(card.status, StatusCode::OK, "{e}: {:?}", card.body);
        assert_eq!((card.body["sample"].as_bool(), card.body["currency"].as_str()), (Some(true), Some("USD")));
        assert_eq!(card.body["effective_from"], "2025-07-01T00:00:00.000000Z");
        let lines = card.body["lines"].as_array().unwrap();
        let brazil = lines.iter().find(|l| l["market"] == "Brazil" && l["category"] == "marketing").unwrap();
        assert_eq!((brazil["rate"].as_str(), brazil["rate_micros"].as_i64()), (Some("0.062500"), Some(62_500)));
        let tiered = lines.iter().filter(|l| l["market"] == "Brazil" && l["category"] == "utility").count();
        assert_eq!(tiered, 2, "{e}: two volume tiers");

        // Before the card starts, in another currency or model: none. Bad values: 400.
        let before = app.get("/api/v1/fees/rates?at=2025-06-30T23:59:59Z").await;
        assert_eq!(before.status, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(app.get("/api/v1/fees/rates?currency=EUR").await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/fees/rates?model=cbp").await.status, StatusCode::NOT_FOUND);
        for bad in ["currency=dollars", "model=free", "at=yesterday", "color=blue"] {
            let r = app.get(&format!("/api/v1/fees/rates?{bad}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: {bad}: {:?}", r.body);
            assert!(r.body["error"]["code"].is_string(), "{e}: {bad}: a JSON error");
        }

        // Managers read it; agents do not.
        let manager = app.token_for("manager", "m@acme.example").await;
        let read = app.call_as(Some(&manager), Method::GET, "/api/v1/fees/rates", None).await;
        assert_eq!(read.status, StatusCode::OK, "{e}");
        let agent = app.token_for("agent", "a@acme.example").await;
        let refused = app.call_as(Some(&agent), Method::GET, "/api/v1/fees/rates", None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");
    }
}

#[tokio::test]
async fn owners_open_an_account_per_waba_and_record_money_by_hand() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let waba = wired.channel["waba_id"].as_str().unwrap().to_owned();
        let unknown = app.post("/api/v1/fees/accounts", json!({"waba_id": "NOT-OURS"})).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_waba"), "{e}");
        let opened = app.post("/api/v1/fees/accounts", json!({"waba_id": waba})).await;
        assert_eq!(opened.status, StatusCode::CREATED, "{e}: {:?}", opened.body);
        assert_eq!(
            (opened.body["balance"].as_str(), opened.body["postpaid"].as_bool()),
            (Some("0.000000"), Some(false))
        );
        let twice = app.post("/api/v1/fees/accounts", json!({"waba_id": waba})).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{e}");
        let id = opened.body["id"].as_i64().unwrap();
        let entries = format!("/api/v1/fees/accounts/{id}/entries");

        let transfer = json!({"kind": "top_up", "amount": "25.00", "reference": "TR-1"});
        let paid = app.post(&entries, transfer.clone()).await;
        assert_eq!(paid.status, StatusCode::CREATED, "{e}: {:?}", paid.body);
        assert_eq!(paid.body["balance_after"], "25.000000");
        assert_eq!(app.post(&entries, transfer).await.status, StatusCode::CONFLICT, "{e}: the same transfer once");
        let no_reason = app.post(&entries, json!({"kind": "adjustment", "amount": "-2.5"})).await;
        assert_eq!((no_reason.status, no_reason.code()), (StatusCode::UNPROCESSABLE_ENTITY, "reason_required"));
        let fixed = app.post(&entries, json!({"kind": "adjustment", "amount": "-2.5", "reason": "bank fee"})).await;
        assert_eq!(fixed.body["balance_after"], "22.500000", "{e}: {:?}", fixed.body);
        for (bad, code) in [
            (json!({"kind": "charge", "amount": "1"}), "invalid_kind"),
            (json!({"kind": "top_up", "amount": "-1"}), "invalid_amount"),
            (json!({"kind": "top_up", "amount": "1.0000001"}), "invalid_amount"),
            (json!({"kind": "top_up", "amount": "12,50"}), "invalid_amount"),
        ] {
            let r = app.post(&entries, bad).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{e}: {:?}", r.body);
        }
        let number = app.post(&entries, json!({"kind": "top_up", "amount": 12.5})).await;
        assert!(number.status.is_client_error(), "{e}: money is never a JSON number");
        let listed = app.get(&entries).await.body;
        assert_eq!(listed.as_array().unwrap().len(), 2, "{e}: refused entries wrote nothing");
        assert_eq!(listed[0]["reason"], "bank fee");
        let accounts = app.get("/api/v1/fees/accounts").await.body;
        assert_eq!(
            (accounts[0]["balance"].as_str(), accounts[0]["available"].as_str()),
            (Some("22.500000"), Some("22.500000"))
        );
        let patched =
            app.patch(&format!("/api/v1/fees/accounts/{id}"), json!({"postpaid": true, "credit_limit": "100"})).await;
        assert_eq!(patched.body["available"], "122.500000", "{e}: {:?}", patched.body);

        // The markup, in percent with two decimals at most.
        let set = app.call(Method::PUT, "/api/v1/fees/settings", Some(json!({"markup_percent": "7.5"}))).await;
        assert_eq!(set.body["markup_percent"], "7.5", "{e}: {:?}", set.body);
        let bad = app.call(Method::PUT, "/api/v1/fees/settings", Some(json!({"markup_percent": "7.555"}))).await;
        assert_eq!(bad.code(), "invalid_markup", "{e}");

        // Managers read, only owners write; agents see nothing.
        let manager = app.token_for("manager", "m@acme.example").await;
        let read = app.call_as(Some(&manager), Method::GET, &entries, None).await;
        assert_eq!(read.status, StatusCode::OK, "{e}");
        let write = app.call_as(Some(&manager), Method::POST, &entries, Some(json!({"kind": "top_up", "amount": "1"})));
        assert_eq!(write.await.status, StatusCode::FORBIDDEN, "{e}");
        let agent = app.token_for("agent", "a@acme.example").await;
        let refused = app.call_as(Some(&agent), Method::GET, "/api/v1/fees/rates", None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");
    }
}

/// From 2026-10-01 a service reply is charged: on a prepaid account with the price of one
/// reply, the first is held and, once delivered, charged by the card (the sandbox reports its
/// pricing); the second is refused before anything is queued, and a dry run says its price.
#[tokio::test]
async fn a_reply_is_held_charged_at_delivery_and_the_next_refused_without_balance() {
    for app in TestApp::all().await {
        let e = app.engine();
        app.clock.set(parley_core::Timestamp::parse_rfc3339("2026-10-15T09:00:00Z").unwrap());
        let wired = app.wired().await;
        parley_server::fees::install_sample_card(&*app.db.store, app.clock.now()).await.unwrap();
        let waba = wired.channel["waba_id"].as_str().unwrap();
        let account = app.post("/api/v1/fees/accounts", json!({"waba_id": waba})).await.body["id"].as_i64().unwrap();
        let top_up = json!({"kind": "top_up", "amount": "0.01", "reference": "TR-9"});
        app.post(&format!("/api/v1/fees/accounts/{account}/entries"), top_up).await;
        wired.writes("5511987650000", "oi").await;
        let channel = wired.channel["id"].as_i64().unwrap();
        let reply = |text: &str| json!({"channel_id": channel, "to": "phone:+5511987650000", "type": "text", "text": {"body": text}});

        let first = app.post("/api/v1/messages", reply("Olá!")).await;
        assert_eq!(first.status, StatusCode::ACCEPTED, "{e}: {:?}", first.body);
        let dry = app.post("/api/v1/messages?dry_run=true", reply("Tudo bem?")).await;
        assert_eq!(dry.body["allowed"], false, "{e}: {:?}", dry.body);
        assert_eq!(dry.body["refusal"]["code"], "insufficient_balance", "{e}");
        let second = app.post("/api/v1/messages", reply("Tudo bem?")).await;
        assert_eq!((second.status, second.code()), (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_balance"), "{e}");
        assert!(second.body["error"]["message"].as_str().unwrap().contains("0.006800 USD"), "{e}: {:?}", second.body);

        // Delivered: the hold becomes the card's charge for a service message to Brazil.
        let path = format!("/api/v1/fees/accounts/{account}/entries");
        let charged = || async { app.get(&path).await.body[0]["kind"] == "charge" };
        assert!(crate::helpers::eventually(20, charged).await, "{e}: {:?}", app.get(&path).await.body);
        let charge = app.get(&path).await.body[0].clone();
        assert_eq!((charge["amount"].as_str(), charge["held_after"].as_str()), (Some("-0.006800"), Some("0.000000")));
        assert_eq!(charge["pricing"]["type"], "regular", "{e}: as the sandbox reported it");
        let accounts = app.get("/api/v1/fees/accounts").await.body;
        assert_eq!(accounts[0]["balance"], "0.003200", "{e}");
        assert_eq!(wired.received("5511987650000").len(), 1, "{e}: the refused reply never left");

        // Usage history: by month and market, as JSON and as a CSV file.
        let usage =
            format!("/api/v1/fees/accounts/{account}/usage?from=2026-10-01&to=2026-10-31&by=month&group=market");
        let month = app.get(&usage).await.body;
        let line = json!({"period": "2026-10", "key": "Brazil", "messages": 1, "amount": "0.006800"});
        assert_eq!(
            (month["lines"].clone(), month["amount"].clone()),
            (json!([line]), json!("0.006800")),
            "{e}: {month}"
        );
        let file =
            app.client.get(app.url(&format!("{usage}&format=csv"))).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(file.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(file.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let text = file.text().await.unwrap();
        assert_eq!(text, "period,key,messages,amount,currency\n2026-10,Brazil,1,0.006800,USD\n", "{e}");
        for bad in
            ["by=year", "group=color", "from=2026-10-31&to=2026-10-01", "from=2025-01-01&to=2026-10-01", "format=pdf"]
        {
            let r = app.get(&format!("/api/v1/fees/accounts/{account}/usage?{bad}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: {bad}");
        }

        // The month's statement: opening and closing balance, entries per kind, charges per
        // category and market; a month in progress says so. Before: nothing yet.
        let statement = app.get(&format!("/api/v1/fees/accounts/{account}/statements/2026-10")).await;
        assert_eq!(statement.status, StatusCode::OK, "{e}: {:?}", statement.body);
        let s = &statement.body;
        assert_eq!(
            (s["opening_balance"].as_str(), s["closing_balance"].as_str()),
            (Some("0.000000"), Some("0.003200"))
        );
        assert_eq!((s["top_ups"]["count"].as_i64(), s["top_ups"]["amount"].as_str()), (Some(1), Some("0.010000")));
        assert_eq!((s["charges"]["count"].as_i64(), s["charges"]["amount"].as_str()), (Some(1), Some("-0.006800")));
        assert_eq!(s["by_category"], json!([{"key": "service", "messages": 1, "amount": "0.006800"}]), "{e}");
        assert_eq!(s["by_market"][0]["key"], "Brazil", "{e}");
        assert_eq!(s["complete"], false, "{e}: October is not over");
        let before = app.get(&format!("/api/v1/fees/accounts/{account}/statements/2026-09")).await.body;
        assert_eq!((before["closing_balance"].as_str(), before["complete"].as_bool()), (Some("0.000000"), Some(true)));
        let file = app
            .client
            .get(app.url(&format!("/api/v1/fees/accounts/{account}/statements/2026-10?format=csv")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert!(file.headers()["content-disposition"].to_str().unwrap().contains("fees-statement"), "{e}");
        let text = file.text().await.unwrap();
        assert!(text.starts_with("section,key,count,amount\nopening_balance,USD,,0.000000\n"), "{e}: {text}");
        assert!(text.contains("category,service,1,0.006800\n") && text.ends_with("closing_balance,USD,,0.003200\n"));
        for bad in ["statements/October", "statements/2026-13", "statements/2026-10?format=pdf"] {
            let r = app.get(&format!("/api/v1/fees/accounts/{account}/{bad}")).await;
            assert_eq!((r.status, r.body["error"]["code"].is_string()), (StatusCode::BAD_REQUEST, true), "{e}: {bad}");
        }
        let agent = app.token_for("agent", "a@acme.example").await;
        let path = format!("/api/v1/fees/accounts/{account}/statements/2026-10");
        assert_eq!(app.call_as(Some(&agent), Method::GET, &path, None).await.status, StatusCode::FORBIDDEN, "{e}");
    }
}

/// Before 2025-07-01 WhatsApp priced per 24-hour conversation, and the sandbox reports it so
/// (`pricing_model: CBP`, the conversation's id): two replies in one conversation are charged
/// once, by the per-conversation card in force.
#[tokio::test]
async fn replies_in_one_conversation_are_charged_once_under_the_2023_rules() {
    use parley_core::fees::card::{Rate, RateCard};
    use parley_core::fees::{Category, Currency, Micros, PricingModel};
    for app in TestApp::all().await {
        let e = app.engine();
        assert!(app.clock.now() < parley_core::rules::PER_MESSAGE_FROM, "the test clock starts in June 2025");
        let card = RateCard {
            currency: Currency::parse("USD").unwrap(),
            model: PricingModel::PerConversation,
            effective_from: parley_core::Timestamp::parse_rfc3339("2023-06-01T00:00:00Z").unwrap(),
            sample: false,
            source: "test".into(),
            rates: vec![Rate {
                market: "Brazil".into(),
                category: Category::Service,
                tier_from: None,
                tier_to: None,
                rate: Micros(30_000),
            }],
        };
        app.db.store.import_rate_card(&card, app.clock.now()).await.unwrap();
        let wired = app.wired().await;
        let waba = wired.channel["waba_id"].as_str().unwrap();
        let account = app.post("/api/v1/fees/accounts", json!({"waba_id": waba})).await.body["id"].as_i64().unwrap();
        let entries = format!("/api/v1/fees/accounts/{account}/entries");
        app.post(&entries, json!({"kind": "top_up", "amount": "1.00", "reference": "TR-2023"})).await;
        wired.writes("5511987650000", "oi").await;
        let channel = wired.channel["id"].as_i64().unwrap();
        for text in ["Olá!", "Tudo bem?"] {
            let reply =
                json!({"channel_id": channel, "to": "phone:+5511987650000", "type": "text", "text": {"body": text}});
            assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED, "{e}");
        }
        let charges = || async {
            let listed = app.get(&entries).await.body;
            listed.as_array().unwrap().iter().filter(|x| x["kind"] == "charge").cloned().collect::<Vec<_>>()
        };
        assert!(crate::helpers::eventually(20, || async { charges().await.len() == 2 }).await, "{e}");
        let charged = charges().await;
        let amounts: Vec<&str> = charged.iter().map(|c| c["amount"].as_str().unwrap()).collect();
        assert!(amounts.contains(&"-0.030000") && amounts.contains(&"0.000000"), "{e}: {charged:?}");
        assert!(charged.iter().all(|c| c["pricing"]["model"] == "CBP"), "{e}: {charged:?}");
        let conversation = &charged[0]["pricing"]["conversation"];
        assert!(
            conversation.is_string() && *conversation == charged[1]["pricing"]["conversation"],
            "{e}: one conversation"
        );
        assert_eq!(app.get("/api/v1/fees/accounts").await.body[0]["balance"], "0.970000", "{e}");
    }
}

/// The nightly reconciliation: once a day is over, the fees worker compares the ledger's
/// charges of the day with what the provider (the sandbox, charging by the same card) reports in
/// `pricing_analytics`; a day that agrees is `matched`, a planted extra charge shows as a
/// difference and is notified.
#[tokio::test]
async fn the_nightly_reconciliation_finds_a_planted_difference() {
    for app in TestApp::all().await {
        let e = app.engine();
        app.clock.set(parley_core::Timestamp::parse_rfc3339("2026-10-15T09:00:00Z").unwrap());
        let wired = app.wired().await;
        parley_server::fees::install_sample_card(&*app.db.store, app.clock.now()).await.unwrap();
        wired.sandbox.set_rate_card(parley_server::fees::sample_card());
        let waba = wired.channel["waba_id"].as_str().unwrap().to_owned();
        let account = app.post("/api/v1/fees/accounts", json!({"waba_id": waba})).await.body["id"].as_i64().unwrap();
        let entries = format!("/api/v1/fees/accounts/{account}/entries");
        app.post(&entries, json!({"kind": "top_up", "amount": "1.00", "reference": "TR-R"})).await;
        wired.writes("5511987650000", "oi").await;
        let channel = wired.channel["id"].as_i64().unwrap();
        let reply =
            json!({"channel_id": channel, "to": "phone:+5511987650000", "type": "text", "text": {"body": "Olá!"}});
        assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED, "{e}");
        let charged = || async { app.get(&entries).await.body[0]["kind"] == "charge" };
        assert!(crate::helpers::eventually(20, charged).await, "{e}");

        // The next day at 03:00: the 15th is reconciled, and agrees.
        let path = format!("/api/v1/fees/accounts/{account}/reconciliations");
        app.clock.set(parley_core::Timestamp::parse_rfc3339("2026-10-16T03:30:00Z").unwrap());
        let reconciled = |day: &'static str| {
            let path = path.clone();
            let app = &app;
            async move {
                let listed = app.get(&path).await.body;
                listed.as_array().unwrap().iter().find(|r| r["day"] == day).cloned()
            }
        };
        assert!(crate::helpers::eventually(20, || async { reconciled("2026-10-15").await.is_some() }).await, "{e}");
        let day = reconciled("2026-10-15").await.unwrap();
        assert_eq!((day["outcome"].as_str(), day["differences"].clone()), (Some("matched"), json!([])), "{e}: {day}");

        // On the 16th the provider charges one marketing message Parley never sent.
        wired.sandbox.plant_priced_message(&waba, "marketing", parley_core::fees::Micros(62_500));
        app.clock.set(parley_core::Timestamp::parse_rfc3339("2026-10-17T03:30:00Z").unwrap());
        assert!(crate::helpers::eventually(20, || async { reconciled("2026-10-16").await.is_some() }).await, "{e}");
        let day = reconciled("2026-10-16").await.unwrap();
        assert_eq!(day["outcome"], "differences", "{e}: {day}");
        let line = json!({"category": "marketing", "pricing_type": "regular",
            "ledger": {"messages": 0, "cost": "0.000000"}, "provider": {"messages": 1, "cost": "0.062500"}});
        assert_eq!(day["differences"], json!([line]), "{e}");
        let notes = app.get("/api/v1/notifications").await.body;
        assert!(notes.as_array().unwrap().iter().any(|n| n["kind"] == "fees.reconciliation"), "{e}: {notes:?}");

        // Run again by hand (owners): the same; a day not over is refused; agents cannot.
        let again = app.post(&path, json!({"day": "2026-10-16"})).await;
        assert_eq!((again.status, again.body["outcome"].as_str()), (StatusCode::OK, Some("differences")), "{e}");
        let today = app.post(&path, json!({"day": "2026-10-17"})).await;
        assert_eq!(today.status, StatusCode::BAD_REQUEST, "{e}");
        let agent = app.token_for("agent", "a@acme.example").await;
        assert_eq!(app.call_as(Some(&agent), Method::GET, &path, None).await.status, StatusCode::FORBIDDEN, "{e}");
    }
}
