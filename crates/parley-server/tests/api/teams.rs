//! Teams on both engines: owners and managers make them and choose members, conversations go
//! to a team's queue and are listed by it, agents hand over what they hold, every change is an
//! event naming who made it, and a deleted team leaves its conversations in none.

use parley_sandbox::{Customer, Say};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually};

fn ids(body: &Value) -> Vec<i64> {
    body["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn conversations_go_to_team_queues_and_are_listed_by_them() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let ana_token = app.token_for("agent", "ana@acme.example").await;
        let bob_token = app.token_for("agent", "bob@acme.example").await;
        let me = |token: &str| {
            let token = token.to_owned();
            let app = &app;
            async move { app.call_as(Some(&token), Method::GET, "/api/v1/me", None).await.body["user"]["id"].clone() }
        };
        let (ana, bob) = (me(&ana_token).await, me(&bob_token).await);

        // Owners make teams; names are unique; agents may not.
        let support = app.post("/api/v1/teams", json!({"name": " Support "})).await;
        assert_eq!((support.status, support.body["name"].as_str()), (StatusCode::CREATED, Some("Support")), "{e}");
        let sales = app.post("/api/v1/teams", json!({"name": "Sales"})).await.body;
        let again = app.post("/api/v1/teams", json!({"name": "Support"})).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "team_exists"), "{e}: {:?}", again.body);
        assert_eq!(app.post("/api/v1/teams", json!({"name": "  "})).await.status, StatusCode::BAD_REQUEST);
        let refused = app.call_as(Some(&ana_token), Method::POST, "/api/v1/teams", Some(json!({"name": "Mine"}))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");
        let support = support.body;
        let names: Vec<String> = app
            .call_as(Some(&ana_token), Method::GET, "/api/v1/teams", None)
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["Sales", "Support"], "{e}: everyone reads them, by name");

        // Members: chosen by owners and managers, users of this workspace only.
        let members = format!("/api/v1/teams/{}/members", support["id"]);
        let set = app.call(Method::PUT, &members, Some(json!({"user_ids": [ana, ana]}))).await;
        assert_eq!((set.status, set.body["user_ids"].clone()), (StatusCode::OK, json!([ana])), "{e}");
        let unknown = app.call(Method::PUT, &members, Some(json!({"user_ids": [999_999]}))).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_user"), "{e}");
        let by_agent = app.call_as(Some(&ana_token), Method::PUT, &members, Some(json!({"user_ids": [bob]}))).await;
        assert_eq!(by_agent.status, StatusCode::FORBIDDEN, "{e}");

        // A conversation goes to Support's queue: listed by team, for its members as "mine".
        wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Lan"), Say::text("help"));
        let list = "/api/v1/conversations";
        assert!(eventually(10, || async { ids(&app.get(list).await.body).len() == 1 }).await, "{e}");
        let conversation = ids(&app.get(list).await.body)[0];
        let team_path = format!("/api/v1/conversations/{conversation}/team");
        let moved = app.post(&team_path, json!({"team_id": support["id"]})).await;
        assert_eq!((moved.status, &moved.body["team_id"]), (StatusCode::OK, &support["id"]), "{e}: {:?}", moved.body);
        assert_eq!(ids(&app.get(&format!("{list}?team={}", support["id"])).await.body), [conversation], "{e}");
        assert!(ids(&app.get(&format!("{list}?team={}", sales["id"])).await.body).is_empty(), "{e}");
        assert!(ids(&app.get(&format!("{list}?team=none")).await.body).is_empty(), "{e}");
        let mine = |token: &str| {
            let token = token.to_owned();
            let app = &app;
            async move { ids(&app.call_as(Some(&token), Method::GET, "/api/v1/conversations?team=mine", None).await.body) }
        };
        assert_eq!(mine(&ana_token).await, [conversation], "{e}: Ana is in Support");
        assert!(mine(&bob_token).await.is_empty(), "{e}: Bob is in no team");
        assert_eq!(app.get(&format!("{list}?team=x")).await.code(), "invalid_request");
        let unknown = app.post(&team_path, json!({"team_id": 999_999})).await;
        assert_eq!((unknown.status, unknown.code()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_team"), "{e}");

        // An agent hands over only what they hold.
        let to_sales = json!({"team_id": sales["id"]});
        let r = app.call_as(Some(&ana_token), Method::POST, &team_path, Some(to_sales.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: nobody holds it yet");
        let assign = format!("/api/v1/conversations/{conversation}/assign");
        app.call_as(Some(&ana_token), Method::POST, &assign, Some(json!({"user_id": ana}))).await;
        let r = app.call_as(Some(&bob_token), Method::POST, &team_path, Some(to_sales.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}: Bob does not hold it");
        let r = app.call_as(Some(&ana_token), Method::POST, &team_path, Some(to_sales)).await;
        assert_eq!((r.status, &r.body["team_id"]), (StatusCode::OK, &sales["id"]), "{e}: {:?}", r.body);
        assert_eq!(r.body["assignee_id"], ana, "{e}: the assignee stays");

        // Every change is an event naming who made it.
        let events = app.get("/api/v1/events?limit=1000").await.body;
        let changes: Vec<(Value, Value, Value)> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|ev| ev["kind"] == "conversation.team_changed")
            .map(|ev| (ev["payload"]["from"].clone(), ev["payload"]["to"].clone(), ev["payload"]["by"].clone()))
            .collect();
        let owner = app.get("/api/v1/me").await.body["user"]["id"].clone();
        assert_eq!(
            changes,
            [
                (Value::Null, support["id"].clone(), owner.clone()),
                (support["id"].clone(), sales["id"].clone(), ana.clone())
            ],
            "{e}"
        );

        // Renamed, then deleted: its conversations are in no team.
        let path = format!("/api/v1/teams/{}", sales["id"]);
        let taken = app.patch(&path, json!({"name": "Support"})).await;
        assert_eq!(taken.code(), "team_exists", "{e}");
        assert_eq!(app.patch(&path, json!({"name": "Pre-sales"})).await.body["name"], "Pre-sales");
        assert_eq!(app.call_as(Some(&ana_token), Method::DELETE, &path, None).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT, "{e}");
        assert_eq!(app.delete(&path).await.status, StatusCode::NOT_FOUND, "{e}");
        let after = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
        assert_eq!((after["team_id"].clone(), after["assignee_id"].clone()), (Value::Null, ana), "{e}");
        assert_eq!(ids(&app.get(&format!("{list}?team=none")).await.body), [conversation], "{e}");
        let last = app.get("/api/v1/events?limit=1000").await.body["items"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (last["kind"].as_str(), last["payload"]["to"].clone()),
            (Some("conversation.team_changed"), Value::Null)
        );
    }
}
