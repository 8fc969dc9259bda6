//! Template management as Meta plays it: creation checks, review, edits and their limits,
//! deletion and the name cooldown, quality pauses, unpause, recategorisation, and the webhooks.

mod common;

use common::{START, env};
use parley_sandbox::{ControlError, Decision, ReviewMode, ReviewPolicy};
use reqwest::Method;
use serde_json::{Value, json};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

fn body_of(text: &str) -> Value {
    json!([{"type": "BODY", "text": text}])
}

#[tokio::test]
async fn a_created_template_is_pending_then_approved_by_webhook() {
    let env = env().await;
    let (status, answer) = env
        .post(
            "W/message_templates",
            json!({"name": "order_update", "language": "en", "category": "utility",
                "components": [{"type": "body", "text": "Order {{1}} shipped"}, {"type": "FOOTER", "text": "Shop"}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["status"].as_str(), answer["category"].as_str()), (Some("PENDING"), Some("UTILITY")));
    let id = answer["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<u64>().is_ok(), "numeric id: {id}");

    let approved = env.wait_status(&id, "APPROVED", 1).await;
    assert_eq!(
        approved,
        json!({"event": "APPROVED", "message_template_id": id.parse::<i64>().unwrap(),
            "message_template_name": "order_update", "message_template_language": "en",
            "message_template_category": "UTILITY", "reason": "NONE"})
    );
    let change = env.all_changes().into_iter().find(|c| c.field == "message_template_status_update").unwrap();
    assert_eq!((change.waba.as_str(), change.time), ("W", Some(START)), "entry id is the WABA, with a time");

    let (_, list) = env.get("W/message_templates").await;
    let t = &list["data"][0];
    assert_eq!((t["id"].as_str(), t["status"].as_str()), (Some(id.as_str()), Some("APPROVED")));
    assert_eq!(t["components"][0]["type"], "BODY", "types come back upper case");
    assert_eq!(t["quality_score"], json!({"score": "UNKNOWN", "date": START}));
    assert_eq!(list["paging"]["cursors"], json!({"before": "", "after": ""}));
    assert_eq!(env.get("W/message_templates?name=other").await.1["data"], json!([]));

    let (_, one) = env.get(&format!("{id}?fields=status,quality_score")).await;
    assert_eq!(one, json!({"id": id, "status": "APPROVED", "quality_score": {"score": "UNKNOWN", "date": START}}));
    assert_eq!(env.graph(Method::GET, &id, "tokx", None).await.0, 401, "another WABA's token");
    assert_eq!(env.send_template("PN", "tok", "order_update", "33612345678").await.0, 200);
}

#[tokio::test]
async fn rejections_by_name_by_policy_and_by_hand() {
    let env = env().await;
    let id = env.create("promo_reject_me", "en", "MARKETING", "Buy now").await;
    let rejected = env.wait_status(&id, "REJECTED", 1).await;
    assert_eq!(rejected["reason"], "INVALID_FORMAT");
    assert!(
        rejected["rejection_info"]["reason"].is_string() && rejected["rejection_info"]["recommendation"].is_string()
    );
    assert_eq!(env.get(&id).await.1["rejected_reason"], "INVALID_FORMAT");

    env.sandbox.set_review_policy(ReviewPolicy { mode: ReviewMode::Manual, delay: std::time::Duration::ZERO });
    let id = env.create("manual_one", "en", "MARKETING", "Hi {{1}}").await;
    env.settle().await;
    assert_eq!(env.status_of(&id).await, "PENDING");
    assert_eq!(env.send_template("PN", "tok", "manual_one", "33612345678").await.1["error"]["code"], 132001);
    env.sandbox.review_template("W", "manual_one", "en", Decision::Reject("PROMOTIONAL".into())).unwrap();
    assert_eq!(env.wait_status(&id, "REJECTED", 1).await["reason"], "PROMOTIONAL");
    assert!(matches!(
        env.sandbox.review_template("W", "manual_one", "en", Decision::Approve),
        Err(ControlError::Invalid(_))
    ));
    assert!(matches!(
        env.sandbox.review_template("W", "nope", "en", Decision::Approve),
        Err(ControlError::NotFound(_))
    ));

    env.sandbox.set_review_policy(ReviewPolicy {
        mode: ReviewMode::Reject { reason: "SCAM".into() },
        delay: std::time::Duration::ZERO,
    });
    let id = env.create("looks_fine", "en", "UTILITY", "Hi").await;
    assert_eq!(env.wait_status(&id, "REJECTED", 1).await["reason"], "SCAM");
}

#[tokio::test]
async fn creation_is_checked_like_meta() {
    let env = env().await;
    let create = |body: Value| env.post("W/message_templates", body);
    let ok = json!({"name": "fine", "language": "en", "category": "MARKETING", "components": body_of("Hi")});
    let with = |key: &str, value: Value| {
        let mut b = ok.clone();
        b[key] = value;
        b
    };
    for (bad, why) in [
        (with("name", json!("Bad-Name")), "name"),
        (with("name", json!("a".repeat(513))), "long name"),
        (with("category", json!("PROMO")), "category"),
        (with("language", json!("")), "language"),
        (with("components", json!([{"type": "FOOTER", "text": "x"}])), "no body"),
        (with("components", body_of("")), "empty body"),
        (with("components", json!("BODY")), "not an array"),
    ] {
        let (status, answer) = create(bad).await;
        assert_eq!((status, answer["error"]["code"].as_i64()), (400, Some(100)), "{why}: {answer}");
        assert_eq!(answer["error"]["type"], "OAuthException");
    }
    let auth = json!({"name": "otp", "language": "en", "category": "authentication",
        "components": [{"type": "BODY", "add_security_recommendation": true}]});
    assert_eq!(create(auth).await.0, 200, "authentication bodies are Meta's to write");
    assert_eq!(create(ok.clone()).await.0, 200);
    let (status, dup) = create(ok.clone()).await;
    assert_eq!((status, &dup["error"]["code"], &dup["error"]["error_subcode"]), (400, &json!(100), &json!(2388024)));
    assert_eq!(create(with("language", json!("fr"))).await.0, 200, "another language is another template");
    let (status, answer) = env.graph(Method::POST, "W/message_templates", "tokx", Some(ok.clone())).await;
    assert_eq!((status, answer["error"]["code"].as_i64()), (401, Some(190)));
}

#[tokio::test]
async fn creations_are_limited_per_hour_and_per_account() {
    let env = env().await;
    env.sandbox.set_review_policy(ReviewPolicy { mode: ReviewMode::Manual, delay: std::time::Duration::ZERO });
    let mut n = 0;
    let mut create = async |env: &common::Env| {
        n += 1;
        env.post(
            "W/message_templates",
            json!({"name": format!("t{n}"), "language": "en", "category": "UTILITY", "components": body_of("Hi")}),
        )
        .await
    };
    for _ in 0..100 {
        assert_eq!(create(&env).await.0, 200);
    }
    assert_eq!(create(&env).await.1["error"]["code"], 80008, "the 101st creation within an hour");
    env.advance(HOUR);
    for _ in 0..100 {
        assert_eq!(create(&env).await.0, 200);
    }
    env.advance(HOUR);
    for _ in 0..50 {
        assert_eq!(create(&env).await.0, 200);
    }
    let (_, answer) = create(&env).await;
    assert_eq!((&answer["error"]["code"], &answer["error"]["error_subcode"]), (&json!(100), &json!(2388019)));
}

#[tokio::test]
async fn edits_follow_meta_rules() {
    let env = env().await;
    let id = env.approved("promo").await;
    let (_, refused) = env.post(&id, json!({"category": "UTILITY"})).await;
    assert_eq!(refused["error"]["code"], 100, "an approved template keeps its category");
    assert_eq!(env.post(&id, json!({})).await.1["error"]["code"], 100, "nothing to edit");

    let (status, answer) = env.post(&id, json!({"components": body_of("Hello {{1}}, code {{2}}")})).await;
    assert_eq!((status, answer), (200, json!({"success": true})));
    env.wait_status(&id, "APPROVED", 2).await;
    assert_eq!(env.get(&id).await.1["components"], body_of("Hello {{1}}, code {{2}}"));
    assert_eq!(
        env.send_template("PN", "tok", "promo", "33612345678").await.1["error"]["code"],
        132000,
        "sends use the edited components"
    );

    let (_, limited) = env.post(&id, json!({"components": body_of("Again {{1}}")})).await;
    assert_eq!((&limited["error"]["code"], &limited["error"]["error_subcode"]), (&json!(100), &json!(2388068)));
    // Ten edits per 30 days: one a day (plus an hour) from now on, the first one above included.
    for i in 2..=10 {
        env.advance(DAY + HOUR);
        assert_eq!(env.post(&id, json!({"components": body_of("Edit {{1}}")})).await.0, 200, "edit {i}");
        env.wait_status(&id, "APPROVED", i + 1).await;
    }
    env.advance(DAY + HOUR);
    assert_eq!(env.post(&id, json!({"message_send_ttl_seconds": 600})).await.1["error"]["error_subcode"], 2388068);

    env.sandbox.set_review_policy(ReviewPolicy { mode: ReviewMode::Manual, delay: std::time::Duration::ZERO });
    let pending = env.create("draft", "en", "MARKETING", "Hi").await;
    assert_eq!(env.post(&pending, json!({"components": body_of("Hey")})).await.1["error"]["code"], 100, "pending");
    env.sandbox.review_template("W", "draft", "en", Decision::Reject("INVALID_FORMAT".into())).unwrap();
    for round in 0..3 {
        let (status, answer) = env.post(&pending, json!({"category": "UTILITY", "components": body_of("Hey")})).await;
        assert_eq!(status, 200, "rejected templates can be edited any time (round {round}): {answer}");
        assert_eq!(env.status_of(&pending).await, "PENDING");
        env.sandbox.review_template("W", "draft", "en", Decision::Reject("INVALID_FORMAT".into())).unwrap();
    }
    assert_eq!(env.get(&pending).await.1["category"], "UTILITY");
}

#[tokio::test]
async fn delete_by_name_or_id_and_the_thirty_day_cooldown() {
    let env = env().await;
    let en = env.approved("bye").await;
    let fr = env.create("bye", "fr", "MARKETING", "Salut").await;
    env.wait_status(&fr, "APPROVED", 1).await;
    assert_eq!(env.delete("W/message_templates?name=nope").await.1["error"]["code"], 100);
    assert_eq!(env.delete("W/message_templates?name=bye").await, (200, json!({"success": true})));
    assert_eq!(env.get("W/message_templates").await.1["data"], json!([]));
    env.wait_status(&en, "DELETED", 1).await;
    assert_eq!(env.wait_status(&fr, "DELETED", 1).await["reason"], Value::Null);

    let create = || {
        env.post(
            "W/message_templates",
            json!({"name": "bye", "language": "de", "category": "MARKETING", "components": body_of("Tschüss")}),
        )
    };
    let (_, cooldown) = create().await;
    assert_eq!((&cooldown["error"]["code"], &cooldown["error"]["error_subcode"]), (&json!(100), &json!(2388023)));
    env.advance(30 * DAY);
    assert_eq!(create().await.0, 200, "usable again after 30 days");

    let one = env.approved("two").await;
    let other = env.create("two", "fr", "MARKETING", "Deux").await;
    assert_eq!(env.delete(&format!("W/message_templates?name=two&hsm_id={one}")).await.0, 200);
    let (_, left) = env.get("W/message_templates?name=two").await;
    assert_eq!(left["data"].as_array().unwrap().len(), 1);
    assert_eq!(left["data"][0]["id"].as_str(), Some(other.as_str()));
}

#[tokio::test]
async fn red_quality_pauses_three_then_six_hours_then_disables() {
    let env = env().await;
    let id = env.approved("promo").await;
    let numeric: i64 = id.parse().unwrap();
    env.sandbox.set_template_quality("W", "promo", "en", "RED").unwrap();
    let quality = env.wait_for("message_template_quality_update", 1, |_| true).await;
    assert_eq!(
        quality[0],
        json!({"previous_quality_score": "UNKNOWN", "new_quality_score": "RED", "message_template_id": numeric,
            "message_template_name": "promo", "message_template_language": "en"})
    );
    let paused = env.wait_status(&id, "PAUSED", 1).await;
    assert_eq!((&paused["reason"], &paused["other_info"]["title"]), (&json!("NONE"), &json!("FIRST_PAUSE")));
    assert_eq!(env.send_template("PN", "tok", "promo", "33612345678").await.1["error"]["code"], 132015);

    env.advance(3 * HOUR - 1);
    env.sandbox.tick();
    assert_eq!(env.status_of(&id).await, "PAUSED");
    env.advance(1);
    env.sandbox.tick();
    let back = env.wait_status(&id, "APPROVED", 2).await;
    assert_eq!(back["other_info"]["title"], "UNPAUSE");
    let (_, t) = env.get(&id).await;
    assert_eq!((t["status"].as_str(), t["quality_score"]["score"].as_str()), (Some("APPROVED"), Some("UNKNOWN")));
    assert_eq!(env.send_template("PN", "tok", "promo", "33612345678").await.0, 200);

    env.sandbox.set_template_quality("W", "promo", "en", "RED").unwrap();
    assert_eq!(env.wait_status(&id, "PAUSED", 2).await["other_info"]["title"], "SECOND_PAUSE");
    env.advance(6 * HOUR);
    env.sandbox.tick();
    env.wait_status(&id, "APPROVED", 3).await;

    env.sandbox.set_template_quality("W", "promo", "en", "RED").unwrap();
    let disabled = env.wait_status(&id, "DISABLED", 1).await;
    assert_eq!(disabled["disable_info"]["disable_date"], START + 9 * HOUR);
    assert_eq!(disabled["other_info"]["title"], "DISABLED");
    assert_eq!(env.send_template("PN", "tok", "promo", "33612345678").await.1["error"]["code"], 132016);
    assert_eq!(env.delete("W/message_templates?name=promo").await.1["error"]["code"], 100, "disabled stays");
    assert_eq!(env.post(&format!("{id}/unpause"), json!({})).await.1["error"]["code"], 100);
    env.advance(DAY);
    env.sandbox.tick();
    assert_eq!(env.status_of(&id).await, "DISABLED", "for good");
}

#[tokio::test]
async fn unpause_endpoint_and_yellow_scores() {
    let env = env().await;
    let id = env.approved("promo").await;
    env.sandbox.set_template_quality("W", "promo", "en", "YELLOW").unwrap();
    assert_eq!(env.status_of(&id).await, "APPROVED", "only RED pauses");
    assert_eq!(env.post(&format!("{id}/unpause"), json!({})).await.1["error"]["code"], 100, "not paused");
    env.sandbox.set_template_quality("W", "promo", "en", "RED").unwrap();
    env.wait_status(&id, "PAUSED", 1).await;
    assert_eq!(env.graph(Method::POST, &format!("{id}/unpause"), "tokx", None).await.0, 401);
    assert_eq!(env.post(&format!("{id}/unpause"), json!({})).await, (200, json!({"success": true})));
    assert_eq!(env.wait_status(&id, "APPROVED", 2).await["other_info"]["title"], "UNPAUSE");
    assert_eq!(env.status_of(&id).await, "APPROVED");
    assert!(env.sandbox.set_template_quality("W", "promo", "en", "PURPLE").is_err());
}

#[tokio::test]
async fn recategorisation_emits_a_category_update() {
    let env = env().await;
    let id = env.create("receipt", "en", "UTILITY", "Paid {{1}}").await;
    env.wait_status(&id, "APPROVED", 1).await;
    env.sandbox.recategorize("W", "receipt", "en", "MARKETING").unwrap();
    let update = env.wait_for("template_category_update", 1, |_| true).await;
    assert_eq!(
        update[0],
        json!({"message_template_id": id.parse::<i64>().unwrap(), "message_template_name": "receipt",
            "message_template_language": "en", "previous_category": "UTILITY", "new_category": "MARKETING"})
    );
    let t = env.sandbox.template("W", "receipt", "en").unwrap();
    assert_eq!((t.category.as_str(), t.status.as_str()), ("MARKETING", "APPROVED"));
    assert_eq!(env.get(&id).await.1["previous_category"], "UTILITY");
}

#[tokio::test]
async fn the_control_api_drives_reviews_quality_and_policy() {
    let env = env().await;
    assert_eq!(env.control("/sandbox/review-policy", json!({"mode": "manual"})).await.0, 200);
    assert_eq!(env.control("/sandbox/review-policy", json!({"mode": "maybe"})).await.0, 400);
    let id = env.create("promo", "en", "MARKETING", "Hi {{1}}").await;
    let review = |decision: &str, name: &str| {
        env.control(
            "/sandbox/templates/review",
            json!({"waba_id": "W", "name": name, "language": "en", "decision": decision}),
        )
    };
    assert_eq!(review("approve", "nope").await.0, 404);
    assert_eq!(review("perhaps", "promo").await.0, 400);
    let (status, answer) = review("approve", "promo").await;
    assert_eq!((status, answer), (200, json!({"ok": true})));
    env.wait_status(&id, "APPROVED", 1).await;
    let (status, answer) = env.control("/sandbox/templates/quality", json!({"waba_id": "W", "name": "promo"})).await;
    assert_eq!(status, 400, "missing score");
    assert!(answer["error"].is_string());
    let quality = json!({"waba_id": "W", "name": "promo", "language": "en", "score": "RED"});
    assert_eq!(env.control("/sandbox/templates/quality", quality).await.0, 200);
    env.wait_status(&id, "PAUSED", 1).await;
    env.advance(3 * HOUR);
    assert_eq!(env.control("/sandbox/tick", json!({})).await.0, 200);
    env.wait_status(&id, "APPROVED", 2).await;

    let policy = json!({"mode": "reject", "reason": "PROMOTIONAL", "delay_ms": 1});
    assert_eq!(env.control("/sandbox/review-policy", policy).await.0, 200);
    let id = env.create("second", "en", "MARKETING", "Hi").await;
    assert_eq!(env.wait_status(&id, "REJECTED", 1).await["reason"], "PROMOTIONAL");
}
