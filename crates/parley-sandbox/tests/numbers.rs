//! The phone number node, the business profile, and messaging limit tiers under the current
//! (per portfolio) and the 2023 (per number) rules.

mod common;

use common::env;
use parley_sandbox::{Customer, LimitRules, Say};
use reqwest::Method;
use serde_json::{Value, json};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

#[tokio::test]
async fn the_number_node_shows_its_state_and_only_the_asked_fields() {
    let env = env().await;
    let (status, node) = env.get("PN").await;
    assert_eq!(status, 200);
    assert_eq!(
        node,
        json!({"id": "PN", "display_phone_number": "15550001111", "verified_name": "Sandbox Business",
            "quality_rating": "GREEN", "status": "CONNECTED", "name_status": "APPROVED",
            "code_verification_status": "VERIFIED", "whatsapp_business_manager_messaging_limit": "TIER_250",
            "messaging_limit_tier": "TIER_250", "throughput": {"level": "STANDARD"}, "platform_type": "CLOUD_API",
            "account_mode": "LIVE"})
    );
    let (_, some) = env.get("PN?fields=quality_rating,throughput").await;
    assert_eq!(some, json!({"id": "PN", "quality_rating": "GREEN", "throughput": {"level": "STANDARD"}}));
    assert_eq!(env.graph(Method::GET, "PN", "tok2", None).await.0, 401, "another number's token");

    env.sandbox.set_number_quality("PN", "yellow").unwrap();
    env.sandbox.set_number_status("PN", "RESTRICTED").unwrap();
    assert!(env.sandbox.set_number_status("PN", "ASLEEP").is_err());
    assert!(env.sandbox.set_number_quality("NOPE", "RED").is_err());
    let (_, node) = env.get("PN?fields=quality_rating,status").await;
    assert_eq!((node["quality_rating"].as_str(), node["status"].as_str()), (Some("YELLOW"), Some("RESTRICTED")));

    // The same path still serves media (and templates, see tests/templates.rs).
    let media = env.sandbox.add_media(b"img".to_vec(), "image/png");
    let (status, info) = env.get(&media).await;
    assert_eq!((status, info["mime_type"].as_str()), (200, Some("image/png")));
    assert_eq!(env.get("123").await.0, 404, "unknown ids are no media either");
}

#[tokio::test]
async fn the_business_profile_keeps_meta_limits() {
    let env = env().await;
    let path = "PN/whatsapp_business_profile";
    let (_, profile) = env.get(path).await;
    let p = &profile["data"][0];
    assert_eq!((p["messaging_product"].as_str(), p["vertical"].as_str()), (Some("whatsapp"), Some("UNDEFINED")));
    assert!(p["about"].as_str().is_some_and(|a| !a.is_empty()) && p["websites"] == json!([]));

    let set = |fields: Value| {
        let mut body = json!({"messaging_product": "whatsapp"});
        body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        env.post(path, body)
    };
    let long = |n: usize| "x".repeat(n);
    let email = |n: usize| format!("{}@example.com", "a".repeat(n - 12));
    for (fields, good) in [
        (json!({"about": ""}), false),
        (json!({"about": long(140)}), false),
        (json!({"about": long(139)}), true),
        (json!({"about": 7}), false),
        (json!({"address": long(257)}), false),
        (json!({"address": long(256)}), true),
        (json!({"description": long(513)}), false),
        (json!({"description": long(512)}), true),
        (json!({"email": "not-an-email"}), false),
        (json!({"email": "a@b"}), false),
        (json!({"email": email(129)}), false),
        (json!({"email": email(128)}), true),
        (json!({"websites": ["https://a.example", "https://b.example", "https://c.example"]}), false),
        (json!({"websites": ["ftp://a.example"]}), false),
        (json!({"websites": [format!("https://{}", long(249))]}), false),
        (json!({"websites": "https://a.example"}), false),
        (json!({"websites": ["https://a.example", format!("http://{}", long(249))]}), true),
        (json!({"vertical": "SPACE"}), false),
        (json!({"vertical": "UNDEFINED"}), false),
        (json!({"vertical": "RETAIL"}), true),
        (json!({"profile_picture_handle": ""}), false),
        (json!({"profile_picture_handle": "4::aW1hZ2U="}), true),
    ] {
        let (status, answer) = set(fields.clone()).await;
        if good {
            assert_eq!((status, answer), (200, json!({"success": true})), "{fields}");
        } else {
            let key = fields.as_object().unwrap().keys().next().unwrap().clone();
            assert_eq!((status, answer["error"]["code"].as_i64()), (400, Some(100)), "{fields}");
            assert!(answer["error"]["message"].as_str().unwrap().contains(&key), "names {key}: {answer}");
        }
    }
    assert_eq!(env.post(path, json!({"about": "hi"})).await.1["error"]["code"], 100, "messaging_product");
    // All or nothing: a bad field keeps the good one of the same request out.
    assert_eq!(set(json!({"about": "Changed", "email": "bad"})).await.0, 400);

    let (_, profile) = env.get(path).await;
    let p = &profile["data"][0];
    assert_eq!((p["about"].as_str(), p["vertical"].as_str()), (Some(long(139).as_str()), Some("RETAIL")));
    assert_eq!(p["email"], email(128));
    assert_eq!(p["websites"].as_array().unwrap().len(), 2);
    assert!(p["profile_picture_url"].as_str().unwrap().starts_with("http://"));
    assert_eq!(set(json!({"vertical": "", "email": ""})).await.0, 200, "empty strings clear");
    let (_, some) = env.get(&format!("{path}?fields=about,vertical")).await;
    assert_eq!(some["data"][0], json!({"about": long(139), "vertical": "", "messaging_product": "whatsapp"}));
    assert_eq!(env.graph(Method::GET, path, "tokx", None).await.0, 401);
}

/// The `phone_number_quality_update` values received so far for a display number.
fn number_events(env: &common::Env, display: &str) -> Vec<Value> {
    env.changes("phone_number_quality_update").into_iter().filter(|v| v["display_phone_number"] == display).collect()
}

#[tokio::test]
async fn current_rules_upgrade_the_account_at_half_its_limit_at_most_every_six_hours() {
    let env = env().await;
    env.hello_template();
    // Replies inside the window are not business-initiated: this recipient will not count.
    let inside = "447711111119";
    env.sandbox.say("PN", &Customer::new(inside, "Ana"), Say::text("hi"));
    assert_eq!(env.send_template("PN", "tok", "hello", inside).await.0, 200);
    env.reach("PN", "tok", 0..100).await;
    env.reach("PN2", "tok2", 100..124).await;
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_250"), "124 of 250 is below half");

    env.reach("PN2", "tok2", 124..125).await;
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_2K"), "the limit is the account's");
    assert_eq!(env.sandbox.tier("PN2").as_deref(), Some("TIER_2K"));
    let capability = env.wait_for("business_capability_update", 1, |_| true).await;
    assert_eq!(capability[0], json!({"max_daily_conversations_per_business": 2000}));
    env.wait_for("phone_number_quality_update", 2, |_| true).await;
    assert_eq!(
        number_events(&env, "15550001111"),
        [json!({"display_phone_number": "15550001111", "event": "UPGRADE", "old_limit": "TIER_250",
            "current_limit": "TIER_2K", "max_daily_conversations_per_business": "TIER_2K"})]
    );
    assert_eq!(env.sandbox.tier("PX").as_deref(), Some("TIER_250"), "another account");

    env.reach("PN", "tok", 125..1000).await;
    env.advance(6 * HOUR - 1);
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_2K"), "not within 6 h of the last upgrade");
    env.sandbox.set_number_quality("PN2", "RED").unwrap();
    env.advance(1);
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_2K"), "not with a RED number");
    env.sandbox.set_number_quality("PN2", "GREEN").unwrap();
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_10K"));
    let capability = env.wait_for("business_capability_update", 2, |_| true).await;
    assert_eq!(capability[1]["max_daily_conversations_per_business"], 10_000);

    env.sandbox.set_number_quality("PN", "RED").unwrap();
    env.advance(8 * DAY);
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_10K"), "quality never downgrades now");
    assert_eq!(env.get("PN").await.1["status"], "CONNECTED", "and there is no FLAGGED any more");

    env.sandbox.set_tier_waba("W", "TIER_UNLIMITED").unwrap();
    let capability = env.wait_for("business_capability_update", 3, |_| true).await;
    assert_eq!(capability[2]["max_daily_conversations_per_business"], -1);
    assert!(env.sandbox.set_tier_waba("NOPE", "TIER_2K").is_err());
    assert!(env.sandbox.set_tier_waba("W", "TIER_3K").is_err());
}

#[tokio::test]
async fn legacy_rules_upgrade_a_number_at_twice_its_limit() {
    let env = env().await;
    env.hello_template();
    env.sandbox.set_limit_rules(LimitRules::Legacy2023);
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_1K"));
    env.sandbox.set_tier("PN", "TIER_250").unwrap();
    let events = env.wait_for("phone_number_quality_update", 1, |_| true).await;
    assert_eq!(
        events[0],
        json!({"display_phone_number": "15550001111", "event": "DOWNGRADE", "old_limit": "TIER_1K",
            "current_limit": "TIER_250"})
    );
    env.reach("PN", "tok", 0..499).await;
    env.reach("PN2", "tok2", 499..600).await;
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_250"), "the other number's sends are its own");
    env.reach("PN", "tok", 600..601).await;
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_1K"));
    assert_eq!(env.sandbox.tier("PN2").as_deref(), Some("TIER_1K"));
    let events = env.wait_for("phone_number_quality_update", 2, |_| true).await;
    assert_eq!(
        events[1],
        json!({"display_phone_number": "15550001111", "event": "UPGRADE", "old_limit": "TIER_250",
            "current_limit": "TIER_1K"})
    );
}

#[tokio::test]
async fn legacy_rules_flag_unflag_and_downgrade() {
    let env = env().await;
    env.sandbox.set_limit_rules(LimitRules::Legacy2023);
    env.sandbox.set_tier("PN", "TIER_10K").unwrap();
    env.sandbox.set_number_quality("PN", "RED").unwrap();
    let events = env.wait_for("phone_number_quality_update", 2, |_| true).await;
    assert_eq!(
        events[1],
        json!({"display_phone_number": "15550001111", "event": "FLAGGED", "current_limit": "TIER_10K"})
    );
    assert_eq!(env.get("PN").await.1["status"], "FLAGGED");

    env.advance(3 * DAY);
    env.sandbox.tick();
    env.sandbox.set_number_quality("PN", "YELLOW").unwrap();
    let events = env.wait_for("phone_number_quality_update", 3, |_| true).await;
    assert_eq!(events[2]["event"], "UNFLAGGED");
    assert_eq!(env.get("PN").await.1["status"], "CONNECTED");

    env.sandbox.set_number_quality("PN", "RED").unwrap();
    env.advance(7 * DAY - 1);
    env.sandbox.tick();
    assert_eq!(env.sandbox.tier("PN").as_deref(), Some("TIER_10K"), "still within 7 days");
    env.advance(1);
    env.sandbox.tick();
    let events = env.wait_for("phone_number_quality_update", 5, |_| true).await;
    assert_eq!(
        events[4],
        json!({"display_phone_number": "15550001111", "event": "DOWNGRADE", "old_limit": "TIER_10K",
            "current_limit": "TIER_1K"})
    );
    let (_, node) = env.get("PN?fields=status,whatsapp_business_manager_messaging_limit").await;
    assert_eq!(
        node,
        json!({"id": "PN", "status": "CONNECTED", "whatsapp_business_manager_messaging_limit": "TIER_1K"})
    );
    env.sandbox.tick();
    env.settle().await;
    assert_eq!(number_events(&env, "15550001111").len(), 5, "one downgrade only");
}

#[tokio::test]
async fn the_control_api_sets_quality_tiers_and_rules() {
    let env = env().await;
    let quality = async |pnid: &str, q: &str| {
        env.control(&format!("/sandbox/numbers/{pnid}/quality"), json!({"quality": q})).await
    };
    assert_eq!(quality("PN", "RED").await, (200, json!({"ok": true})));
    assert_eq!(quality("PN", "BLUE").await.0, 400);
    assert_eq!(quality("NOPE", "RED").await.0, 404);
    assert_eq!(env.control("/sandbox/numbers/PN/quality", json!({"q": 1})).await.0, 400);
    assert_eq!(env.get("PN").await.1["quality_rating"], "RED");

    assert_eq!(env.control("/sandbox/numbers/PN/tier", json!({"tier": "TIER_10K"})).await.0, 200);
    assert_eq!(env.sandbox.tier("PN2").as_deref(), Some("TIER_10K"), "current rules: the account's tier");
    assert_eq!(env.control("/sandbox/limit-rules", json!({"rules": "legacy_2023"})).await.0, 200);
    assert_eq!(env.control("/sandbox/limit-rules", json!({"rules": "2019"})).await.0, 400);
    assert_eq!(env.control("/sandbox/numbers/PN/tier", json!({"tier": "TIER_100K"})).await.0, 200);
    assert_eq!(
        (env.sandbox.tier("PN").as_deref(), env.sandbox.tier("PN2").as_deref()),
        (Some("TIER_100K"), Some("TIER_1K")),
        "2023 rules: the number's own"
    );
    assert_eq!(env.control("/sandbox/numbers/PN/tier", json!({"tier": "huge"})).await.0, 400);
    assert_eq!(env.control("/sandbox/numbers/PN/status", json!({"status": "BANNED"})).await.0, 200);
    assert_eq!(env.get("PN").await.1["status"], "BANNED");
    assert_eq!(env.control("/sandbox/tick", json!({})).await.0, 200);
}

/// Sends `bytes` to an upload session as Meta's second call does; (status, JSON body).
async fn upload_bytes(env: &common::Env, session: &str, auth: &str, offset: &str, bytes: &[u8]) -> (u16, Value) {
    let url = format!("{}/{session}", env.sandbox.graph_base_url());
    let r = reqwest::Client::new()
        .post(url)
        .header("authorization", auth)
        .header("file_offset", offset)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn resumable_uploads_give_a_handle_only_for_the_announced_file() {
    let env = env().await;
    let open = async |query: &str| env.graph(Method::POST, &format!("app/uploads?{query}"), "tok", None).await;
    assert_eq!(open("file_name=a.png&file_length=0&file_type=image/png").await.0, 400, "empty");
    assert_eq!(open("file_name=a.gif&file_length=3&file_type=image/gif").await.0, 400, "a type Meta refuses");
    assert_eq!(env.graph(Method::POST, "app/uploads?file_length=3&file_type=image/png", "nope", None).await.0, 401);
    let (status, session) = open("file_name=a.png&file_length=3&file_type=image/png").await;
    assert_eq!(status, 200, "{session}");
    let session = session["id"].as_str().unwrap().to_owned();
    assert!(session.starts_with("upload:"));

    assert_eq!(upload_bytes(&env, &session, "Bearer tok", "0", b"png").await.0, 401, "the second call says OAuth");
    assert_eq!(upload_bytes(&env, &session, "OAuth tok", "1", b"png").await.0, 400, "offset 0 only");
    assert_eq!(upload_bytes(&env, &session, "OAuth tok", "0", b"pn").await.0, 400, "not the announced length");
    assert_eq!(upload_bytes(&env, "upload:unknown", "OAuth tok", "0", b"png").await.0, 400, "no such session");
    let (status, done) = upload_bytes(&env, &session, "OAuth tok", "0", b"png").await;
    assert_eq!(status, 200, "{done}");
    let handle = done["h"].as_str().unwrap();
    let sample = env.sandbox.uploaded_sample(handle).unwrap();
    assert_eq!((sample.file_name.as_str(), sample.file_type.as_str(), sample.bytes), ("a.png", "image/png", 3));
    assert_eq!(upload_bytes(&env, &session, "OAuth tok", "0", b"png").await.0, 400, "a session gives one handle");
}
