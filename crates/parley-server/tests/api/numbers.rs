//! Number health, messaging limit tiers and the business profile against the sandbox, under
//! both of its limit rule sets: webhooks move the limit the send rules use, the health endpoint
//! shows today's use of it, the periodic check catches what no webhook says.

use parley_sandbox::{LimitRules, NumberPolicy};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{START, TestApp, Wired, eventually};

const WAIT: u64 = 15;

fn path(wired: &Wired, rest: &str) -> String {
    format!("/api/v1/channels/{}{rest}", wired.channel["id"])
}

fn phone(i: usize) -> String {
    format!("+336123{i:05}")
}

fn template_to(channel: &Value, to: &str) -> Value {
    json!({"channel_id": channel["id"], "to": to, "type": "template",
        "template": {"name": "welcome_back", "language": {"code": "en"}, "components": []}})
}

async fn limit_becomes(app: &TestApp, wired: &Wired, limit: Value) -> Value {
    let url = path(wired, "/health");
    let reached = eventually(WAIT, || async { app.get(&url).await.body["messaging_limit"]["limit"] == limit }).await;
    let body = app.get(&url).await.body;
    assert!(reached, "{}: the limit never became {limit}: {body}", app.engine());
    body
}

/// An approved template with no parameters, created through the API (the sandbox approves it).
async fn approved_template(app: &TestApp, wired: &Wired) {
    let created = app
        .post(
            &path(wired, "/templates"),
            json!({"name": "welcome_back", "language": "en", "category": "utility",
                "components": [{"type": "body", "text": "Your account is ready to use again."}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let url = path(wired, "/templates/welcome_back/en");
    let approved = eventually(WAIT, || async { app.get(&url).await.body["status"] == "approved" }).await;
    let body = app.get(&url).await.body;
    assert!(approved, "{}: never approved: {body}; webhooks: {:?}", app.engine(), wired.webhook_stats());
}

#[tokio::test]
async fn an_upgrade_under_current_rules_opens_the_limit_the_sends_were_refused_at() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        app.patch("/api/v1/workspace", json!({"require_opt_in": false})).await;
        // Fast enough that no send is throttled (throttled ones wait for the clock to retry).
        let fast = NumberPolicy { throughput: 1000, ..NumberPolicy::default() };
        wired.sandbox.set_policy(&wired.number.phone_number_id, fast);
        approved_template(&app, &wired).await;
        let health = app.get(&path(&wired, "/health")).await.body;
        assert_eq!(
            health["messaging_limit"],
            json!({"tier": "TIER_250", "limit": 250, "used": 0, "remaining": 250,
            "next_release_at": null, "resets_at": null}),
            "{e}"
        );
        for i in 0..251 {
            let r = app.post("/api/v1/contacts", json!({"phone": phone(i)})).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        for i in 0..250 {
            let r = app.post("/api/v1/messages", template_to(&wired.channel, &format!("phone:{}", phone(i)))).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: send {i}: {}", r.body);
        }
        let health = app.get(&path(&wired, "/health")).await.body;
        assert_eq!(
            (health["messaging_limit"]["used"].as_u64(), health["messaging_limit"]["remaining"].as_u64()),
            (Some(250), Some(0))
        );
        assert!(!health["messaging_limit"]["next_release_at"].is_null(), "{e}: {health}");
        let last = format!("phone:{}", phone(250));
        let refused = app.post("/api/v1/messages", template_to(&wired.channel, &last)).await;
        assert_eq!(refused.code(), "limit_reached", "{e}: fits 10K, not 250");
        // Sending again to someone already counted costs nothing.
        let again = app.post("/api/v1/messages", template_to(&wired.channel, &format!("phone:{}", phone(0)))).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{e}");

        // Meta (the sandbox) sees 250 unique recipients in 7 days: half of 250, so one tier up.
        // (Throttled sends are retried on the clock: drive it.)
        let dispatched = eventually(WAIT, || async { wired.sandbox.sent_count() == 251 }).await;
        let outbox = app.get(&path(&wired, "/outbox")).await.body;
        assert!(dispatched, "{e}: {} sent; outbox {outbox}", wired.sandbox.sent_count());
        wired.sandbox.tick();
        let health = limit_becomes(&app, &wired, json!(2000)).await;
        assert_eq!(
            (health["messaging_limit"]["tier"].as_str(), health["messaging_limit"]["remaining"].as_u64()),
            (Some("TIER_2K"), Some(1750))
        );
        let allowed = app.post("/api/v1/messages", template_to(&wired.channel, &last)).await;
        assert_eq!(allowed.status, StatusCode::ACCEPTED, "{e}: allowed after the upgrade: {}", allowed.body);
        let notes = app.get("/api/v1/notifications").await.body;
        assert!(
            notes
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["message"].as_str().unwrap_or_default().contains("TIER_250 → TIER_2K")),
            "{e}: {notes}"
        );
    }
}

#[tokio::test]
async fn legacy_rules_flag_downgrade_and_upgrade_a_number() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let pnid = wired.number.phone_number_id.clone();
        wired.sandbox.set_limit_rules(LimitRules::Legacy2023);
        wired.sandbox.set_tier(&pnid, "TIER_10K").unwrap();
        limit_becomes(&app, &wired, json!(10_000)).await;

        wired.sandbox.set_number_quality(&pnid, "RED").unwrap();
        let url = path(&wired, "/health");
        assert!(eventually(WAIT, || async { app.get(&url).await.body["status"] == "flagged" }).await, "{e}");
        // The number's fields say what no webhook did: its quality.
        let refreshed = app.post(&path(&wired, "/health/refresh"), json!({})).await;
        assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
        assert_eq!(refreshed.body["quality_rating"], "red", "{e}: {}", refreshed.body);
        assert!(!refreshed.body["checked_at"].is_null());
        assert!(refreshed.body["changes"].as_array().unwrap().iter().any(|c| c["field"] == "quality_rating"));

        // Flagged for 7 days: one tier down, connected again.
        app.clock.advance_secs(7 * 24 * 3600);
        wired.sandbox.tick();
        let health = limit_becomes(&app, &wired, json!(1000)).await;
        assert_eq!(health["status"], "connected", "{e}");
        assert_eq!(health["messaging_limit"]["tier"], "TIER_1K");
    }
}

#[tokio::test]
async fn the_periodic_check_catches_what_no_webhook_said() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        wired.sandbox.set_number_quality(&wired.number.phone_number_id, "YELLOW").unwrap();
        let report = parley_server::workers::provider_sync::sync_once(&app.state, true, true).await;
        assert_eq!((report.numbers_checked, report.accounts_synced, report.failures), (1, 1, 0), "{e}");
        let health = app.get(&path(&wired, "/health")).await.body;
        assert_eq!(
            (
                health["quality_rating"].as_str(),
                health["status"].as_str(),
                health["verified_name"].as_str(),
                health["throughput_level"].as_str()
            ),
            (Some("yellow"), Some("connected"), Some("Sandbox Business"), Some("standard")),
            "{e}: {health}"
        );
        assert_eq!(health["checked_at"], json!(START.plus_secs(0)));
    }
}

#[tokio::test]
async fn the_business_profile_is_checked_then_changed_through_the_provider() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        assert_eq!(app.get(&path(&wired, "/profile")).await.status, StatusCode::OK);
        let bad = [
            (json!({"about": "a".repeat(140)}), "about"),
            (json!({"about": ""}), "about"),
            (json!({"address": "a".repeat(257)}), "address"),
            (json!({"description": "d".repeat(513)}), "description"),
            (json!({"email": "not-an-email"}), "email"),
            (json!({"websites": ["https://a.example", "https://b.example", "https://c.example"]}), "websites"),
            (json!({"websites": ["acme.example"]}), "websites[0]"),
            (json!({"vertical": "SPACESHIPS"}), "vertical"),
        ];
        for (body, field) in bad {
            let r = app.patch(&path(&wired, "/profile"), body.clone()).await;
            assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_profile"), "{e}: {body}");
            assert_eq!(r.body["error"]["field"], field, "{e}: {body}");
        }
        assert_eq!(
            app.patch(&path(&wired, "/profile"), json!({"colour": "red"})).await.status,
            StatusCode::BAD_REQUEST
        );
        let good = json!({"about": "We answer within the hour", "email": "help@acme.example",
            "websites": ["https://acme.example"], "vertical": "retail", "address": "1 Main St"});
        let r = app.patch(&path(&wired, "/profile"), good).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        let profile = app.get(&path(&wired, "/profile")).await.body;
        assert_eq!(
            (profile["about"].as_str(), profile["vertical"].as_str(), profile["websites"][0].as_str()),
            (Some("We answer within the hour"), Some("RETAIL"), Some("https://acme.example")),
            "{e}: {profile}"
        );
        let agent = app.token_for("agent", "agent@acme.example").await;
        let r = app
            .call_as(Some(&agent), reqwest::Method::PATCH, &path(&wired, "/profile"), Some(json!({"about": "x"})))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
}
