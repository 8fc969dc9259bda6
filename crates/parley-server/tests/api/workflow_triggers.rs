//! Workflows (issue 18): the triggers beyond the conversation's own events, on both engines —
//! a contact field changed (on the contact's latest conversation), a customer from a
//! click-to-WhatsApp ad, a shortcut an agent runs from the inbox, and inactivity on the injected
//! clock (once per silence).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};
use crate::workflows::active_workflow;

async fn tags_of(app: &TestApp, conversation: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{conversation}/tags")).await.body
}

async fn run_count(app: &TestApp, workflow: i64) -> usize {
    app.get(&format!("/api/v1/workflows/{workflow}/runs")).await.body.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_changed_field_and_an_ad_start_their_workflows() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let field = json!({"trigger": {"kind": "contact_field_updated", "field": "plan"},
            "conditions": [{"subject": "contact.fields.plan", "op": "equals", "value": "gold"}],
            "steps": [{"id": "t", "kind": "add_tags", "tags": ["{{contact.fields.plan}}"]}]});
        let field_workflow = active_workflow(&app, "Gold", field).await;
        let ad = json!({"trigger": {"kind": "ad_referral", "source_id": "AD-7"},
            "steps": [{"id": "t", "kind": "add_tags", "tags": ["from-ad"]}]});
        let ad_workflow = active_workflow(&app, "Ad", ad).await;

        wired.writes("33610000021", "hello").await;
        let id = app.conversation_of("33610000021").await;
        let contact = app.get(&format!("/api/v1/conversations/{id}")).await.body["contact_id"].clone();
        // Another field, then the plan but not gold: nothing.
        let contact_path = format!("/api/v1/contacts/{contact}");
        let patch = |fields: Value| app.patch(&contact_path, json!({"fields": fields}));
        assert_eq!(patch(json!({"city": "Lyon"})).await.status, StatusCode::OK, "{e}");
        assert_eq!(patch(json!({"plan": "silver"})).await.status, StatusCode::OK, "{e}");
        app.timer_passes(2).await;
        assert_eq!(run_count(&app, field_workflow).await, 0, "{e}");
        // Gold: on the contact's conversation.
        assert_eq!(patch(json!({"plan": "gold"})).await.status, StatusCode::OK, "{e}");
        let tagged = eventually(15, || async { tags_of(&app, id).await == json!(["gold"]) }).await;
        assert!(tagged, "{e}: {}", tags_of(&app, id).await);
        let runs = app.get(&format!("/api/v1/workflows/{field_workflow}/runs")).await.body;
        assert_eq!(runs[0]["conversation_id"], id, "{e}: {runs}");
        assert_eq!(run_count(&app, field_workflow).await, 1, "{e}");
        // Setting the same value again changes nothing, and starts nothing.
        assert_eq!(patch(json!({"plan": "gold"})).await.status, StatusCode::OK, "{e}");
        app.timer_passes(2).await;
        assert_eq!(run_count(&app, field_workflow).await, 1, "{e}");

        // A customer from another ad, then from AD-7.
        let customer = parley_sandbox::Customer::new("33610000022", "Ad");
        let pnid = &wired.number.phone_number_id;
        wired.sandbox.say(pnid, &customer, parley_sandbox::Say::text("hi").from_ad("AD-1"));
        let other = eventually(15, || async {
            app.get("/api/v1/conversations?limit=50").await.body["items"].as_array().unwrap().len() == 2
        });
        assert!(other.await, "{e}");
        app.timer_passes(2).await;
        assert_eq!(run_count(&app, ad_workflow).await, 0, "{e}: another ad");
        wired.sandbox.say(pnid, &customer, parley_sandbox::Say::text("the offer?").from_ad("AD-7"));
        let ad_conv = app.conversation_of("33610000022").await;
        assert!(eventually(15, || async { tags_of(&app, ad_conv).await == json!(["from-ad"]) }).await, "{e}");
        let runs = format!("/api/v1/workflows/{ad_workflow}/runs");
        assert!(eventually(10, || async { app.get(&runs).await.body[0]["status"] == "done" }).await, "{e}");
        let run = app.get(&format!("/api/v1/workflow-runs/{}", app.get(&runs).await.body[0]["id"])).await.body;
        assert_eq!(run["history"][0]["outcome"], "done", "{e}: {run}");
        assert_eq!(run["history"].as_array().map(Vec::len), Some(1), "{e}: one run for the one ad");
    }
}

#[tokio::test]
async fn an_agent_runs_a_shortcut_and_quiet_conversations_are_nudged_once() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let shortcut = json!({"trigger": {"kind": "shortcut"},
            "steps": [{"id": "n", "kind": "set_field", "field": "escalated_by", "value": "{{trigger.by}}", "next": "t"},
                      {"id": "t", "kind": "add_tags", "tags": ["escalated"]}]});
        let shortcut_id = active_workflow(&app, "Escalate", shortcut).await;
        let other = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "t", "kind": "add_tags", "tags": ["x"]}]});
        let manual_id = active_workflow(&app, "Manual", other).await;

        wired.writes("33610000023", "hello").await;
        let id = app.conversation_of("33610000023").await;
        let agent = app.token_for("agent", "agent@acme.example").await;
        let agent_id = app.user_id(&agent).await;
        let as_agent = |method: Method, path: String| {
            let agent = agent.clone();
            let app = &app;
            async move { app.call_as(Some(&agent), method, &path, None).await }
        };
        let listed = as_agent(Method::GET, format!("/api/v1/conversations/{id}/shortcuts")).await;
        assert_eq!(listed.status, StatusCode::OK, "{e}: {:?}", listed.body);
        assert_eq!(listed.body, json!([{"id": shortcut_id, "name": "Escalate"}]), "{e}: only shortcuts");
        // A shortcut whose conditions do not hold on this conversation is refused, starting nothing.
        let vip_only = json!({"trigger": {"kind": "shortcut"},
            "conditions": [{"subject": "conversation.tags", "op": "contains", "value": "vip"}],
            "steps": [{"id": "t", "kind": "add_tags", "tags": ["vip-handled"]}]});
        let vip_id = active_workflow(&app, "VIP only", vip_only).await;
        let r = as_agent(Method::POST, format!("/api/v1/conversations/{id}/shortcuts/{vip_id}")).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "shortcut_not_applicable"), "{e}");
        assert_eq!(run_count(&app, vip_id).await, 0, "{e}");
        let refused = as_agent(Method::POST, format!("/api/v1/conversations/{id}/shortcuts/{manual_id}")).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{e}: not a shortcut");
        let ran = as_agent(Method::POST, format!("/api/v1/conversations/{id}/shortcuts/{shortcut_id}")).await;
        assert_eq!(ran.status, StatusCode::CREATED, "{e}: {:?}", ran.body);
        assert!(eventually(15, || async { tags_of(&app, id).await == json!(["escalated"]) }).await, "{e}");
        let contact = app.get(&format!("/api/v1/conversations/{id}")).await.body["contact_id"].clone();
        let fields = app.get(&format!("/api/v1/contacts/{contact}")).await.body["fields"].clone();
        assert_eq!(fields["escalated_by"], agent_id.to_string(), "{e}: {fields}");
        // Another workspace's conversation is not found.
        let other = parley_server::admin::bootstrap(
            &*app.db.store,
            "globex",
            "owner@globex.example",
            "another good password".into(),
            crate::helpers::START,
        )
        .await
        .unwrap();
        for (method, path) in [
            (Method::GET, format!("/api/v1/conversations/{id}/shortcuts")),
            (Method::POST, format!("/api/v1/conversations/{id}/shortcuts/{shortcut_id}")),
        ] {
            let r = app.call_as(Some(&other.token), method, &path, None).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{e}: {path}");
        }

        // Inactivity: the customer wrote last and no one answered for two hours.
        let nudge = json!({"trigger": {"kind": "inactivity", "who": "team", "hours": 2},
            "steps": [{"id": "t", "kind": "add_tags", "tags": ["waiting-for-us"]}]});
        let nudge_id = active_workflow(&app, "Nudge", nudge).await;
        wired.writes("33610000024", "anyone?").await;
        let quiet = app.conversation_of("33610000024").await;
        app.clock.advance_secs(3600);
        app.timer_passes(2).await;
        assert_eq!(tags_of(&app, quiet).await, json!([]), "{e}: one hour only");
        app.clock.advance_secs(3601);
        assert!(eventually(15, || async { tags_of(&app, quiet).await == json!(["waiting-for-us"]) }).await, "{e}");
        // The earlier conversation went quiet too (its customer wrote last): nudged as well.
        let both = eventually(15, || async { tags_of(&app, id).await == json!(["escalated", "waiting-for-us"]) });
        assert!(both.await, "{e}: {}", tags_of(&app, id).await);
        app.timer_passes(3).await;
        let before = run_count(&app, nudge_id).await;
        assert_eq!(before, 2, "{e}: once per silence");
        app.clock.advance_secs(600);
        app.timer_passes(3).await;
        assert_eq!(run_count(&app, nudge_id).await, before, "{e}: the same silence starts nothing again");
        // A reply from the business ends that silence: no new run for the team's silence.
        let reply = json!({"channel_id": wired.channel["id"], "to": "phone:+33610000024", "type": "text", "text": {"body": "Here!"}});
        assert_eq!(app.post("/api/v1/messages", reply).await.status, StatusCode::ACCEPTED, "{e}");
        app.clock.advance_secs(3 * 3600);
        app.timer_passes(3).await;
        assert_eq!(run_count(&app, nudge_id).await, before, "{e}");
    }
}
