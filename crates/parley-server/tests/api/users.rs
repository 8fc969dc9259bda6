//! Managing users on both engines: roles changed within the rules (a manager never touches an
//! owner, a workspace keeps an active owner, nobody deactivates themself), deactivation that
//! ends tokens and sessions and returns open conversations to the queue, and invitation links
//! with which a new user chooses a password and lands in the inbox.

use parley_sandbox::{Customer, Say};
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, cookie_of, eventually, web_client};

#[tokio::test]
async fn roles_change_within_the_rules_and_a_workspace_keeps_an_owner() {
    for app in TestApp::all().await {
        let e = app.engine();
        let owner = app.user_id(&app.token).await;
        let manager_token = app.token_for("manager", "manager@acme.example").await;
        let manager = app.user_id(&manager_token).await;
        let agent_token = app.token_for("agent", "agent@acme.example").await;
        let agent = app.user_id(&agent_token).await;
        let patch = |token: &str, id: &i64, body: Value| {
            let (token, path) = (token.to_owned(), format!("/api/v1/users/{id}"));
            let app = &app;
            async move { app.call_as(Some(&token), Method::PATCH, &path, Some(body)).await }
        };

        // The last owner stays an owner, and active; nobody deactivates themself.
        let r = patch(&app.token, &owner, json!({"role": "manager"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "last_owner"), "{e}: {:?}", r.body);
        let r = patch(&app.token, &owner, json!({"active": false})).await;
        assert_eq!(r.code(), "cannot_deactivate_self", "{e}");
        // Agents change nobody; a manager changes agents, never an owner, and makes no owner.
        assert_eq!(patch(&agent_token, &manager, json!({"name": "x"})).await.status, StatusCode::FORBIDDEN, "{e}");
        let r = patch(&manager_token, &agent, json!({"role": "manager", "name": "Ana (lead)"})).await;
        assert_eq!(
            (r.status, r.body["role"].as_str(), r.body["name"].as_str()),
            (StatusCode::OK, Some("manager"), Some("Ana (lead)")),
            "{e}"
        );
        assert_eq!(patch(&manager_token, &owner, json!({"active": false})).await.status, StatusCode::FORBIDDEN, "{e}");
        assert_eq!(patch(&manager_token, &agent, json!({"role": "owner"})).await.status, StatusCode::FORBIDDEN, "{e}");
        // With a second owner, the first may step down.
        assert_eq!(patch(&app.token, &manager, json!({"role": "owner"})).await.body["role"], "owner", "{e}");
        assert_eq!(patch(&app.token, &owner, json!({"role": "manager"})).await.body["role"], "manager", "{e}");
        // Bad input is refused and changes nothing.
        assert_eq!(patch(&manager_token, &agent, json!({"role": "boss"})).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(patch(&manager_token, &agent, json!({"name": "  "})).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(patch(&manager_token, &999_999, json!({"name": "x"})).await.status, StatusCode::NOT_FOUND);
        let users = app.call_as(Some(&manager_token), Method::GET, "/api/v1/users", None).await.body;
        let ana = users.as_array().unwrap().iter().find(|u| u["id"] == agent).unwrap().clone();
        assert_eq!(
            (ana["role"].as_str(), ana["name"].as_str(), ana["active"].as_bool()),
            (Some("manager"), Some("Ana (lead)"), Some(true)),
            "{e}"
        );
    }
}

/// An owner makes an agent an owner while a manager changes that agent, at once, many times: the
/// role rules are checked where the change is written, so the manager's change never lands on an
/// owner (it comes first, or it is refused with 403).
#[tokio::test]
async fn a_managers_change_racing_a_promotion_never_lands_on_an_owner() {
    for app in TestApp::all().await {
        let e = app.engine();
        let manager_token = app.token_for("manager", "manager@acme.example").await;
        for round in 0..20 {
            let agent = app
                .post("/api/v1/users", json!({"email": format!("a{round}@acme.example"), "name": "A", "role": "agent"}))
                .await;
            let path = format!("/api/v1/users/{}", agent.body["id"]);
            let (promoted, changed) = tokio::join!(
                app.call_as(Some(&app.token), Method::PATCH, &path, Some(json!({"role": "owner"}))),
                app.call_as(Some(&manager_token), Method::PATCH, &path, Some(json!({"role": "manager", "name": "M"}))),
            );
            assert_eq!(promoted.status, StatusCode::OK, "{e}: {:?}", promoted.body);
            assert!(
                changed.status == StatusCode::OK
                    || (changed.status, changed.code()) == (StatusCode::FORBIDDEN, "forbidden"),
                "{e}: {:?}",
                changed.body
            );
            let users = app.get("/api/v1/users").await.body;
            let user = users.as_array().unwrap().iter().find(|u| u["id"] == agent.body["id"]).unwrap().clone();
            assert_eq!(user["role"], "owner", "{e} round {round}: {user:?} {:?} {:?}", promoted.body, changed.body);
        }
    }
}

#[tokio::test]
async fn a_deactivated_user_loses_access_and_their_open_conversations() {
    for app in TestApp::all().await {
        let e = app.engine();
        let wired = app.wired().await;
        let agent_token = app.token_for("agent", "agent@acme.example").await;
        let agent = app.user_id(&agent_token).await;
        let auto = app.call(Method::PUT, "/api/v1/workspace/assignment", Some(json!({"mode": "round_robin"}))).await;
        assert_eq!(auto.status, StatusCode::OK, "{e}");
        wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33612345678", "Lan"), Say::text("hello"));
        let list = "/api/v1/conversations";
        assert!(eventually(10, || async { app.get(list).await.body["items"].as_array().unwrap().len() == 1 }).await);
        let conversation = app.get(list).await.body["items"][0].clone();
        let path = format!("/api/v1/conversations/{}", conversation["id"]);
        app.post(&format!("{path}/assign"), json!({"user_id": agent})).await;
        assert_eq!(app.get(&path).await.body["assignee_id"], agent, "{e}");

        let r = app.patch(&format!("/api/v1/users/{agent}"), json!({"active": false})).await;
        assert_eq!((r.status, r.body["active"].as_bool()), (StatusCode::OK, Some(false)), "{e}: {:?}", r.body);
        assert!(r.body["deactivated_at"].is_string());
        // Their token no longer works; their conversation is back in the queue, with an event.
        let me = app.call_as(Some(&agent_token), Method::GET, "/api/v1/me", None).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{e}");
        assert_eq!(app.get(&path).await.body["assignee_id"], Value::Null, "{e}");
        let events = app.get("/api/v1/events?limit=1000").await.body;
        let unassigned = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|ev| ev["kind"] == "conversation.unassigned")
            .unwrap()
            .clone();
        assert_eq!(unassigned["payload"]["reason"], "assignee_deactivated", "{e}");
        // Nobody assigns them anything, by hand or automatically.
        let r = app.post(&format!("{path}/assign"), json!({"user_id": agent})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_user"), "{e}");
        wired.sandbox.say(&wired.number.phone_number_id, &Customer::new("33698765432", "Binh"), Say::text("hi"));
        assert!(eventually(10, || async { app.get(list).await.body["items"].as_array().unwrap().len() == 2 }).await);
        let items = app.get(list).await.body["items"].as_array().unwrap().clone();
        assert!(items.iter().all(|c| c["assignee_id"].is_null()), "{e}: {items:?}");
        // Brought back, they can be given work again (with a new token: the old ones stay revoked).
        let r = app.patch(&format!("/api/v1/users/{agent}"), json!({"active": true})).await;
        assert_eq!(r.body["active"], true, "{e}");
        assert_eq!(
            app.call_as(Some(&agent_token), Method::GET, "/api/v1/me", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.post(&format!("{path}/assign"), json!({"user_id": agent})).await.body["assignee_id"],
            agent,
            "{e}"
        );
    }
}

#[tokio::test]
async fn an_invitation_link_lets_a_new_user_choose_a_password_once() {
    for app in TestApp::all().await {
        let e = app.engine();
        let created =
            app.post("/api/v1/users", json!({"email": "lan@acme.example", "name": "Lan", "role": "agent"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{e}");
        let id = created.body["id"].clone();
        let invite = app.post(&format!("/api/v1/users/{id}/invite"), json!({})).await;
        assert_eq!(invite.status, StatusCode::CREATED, "{e}: {:?}", invite.body);
        let url = invite.body["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with("/invite/"), "{url}");

        // The page greets the invitee and gives a form with its CSRF token.
        let page = web_client().get(app.url(&url)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{e}");
        let cookie = cookie_of(&page, "parley_login").unwrap();
        let html = page.text().await.unwrap();
        assert!(html.contains("lan@acme.example"), "{e}");
        let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let post = |password: &str, csrf: &str| {
            web_client()
                .post(app.url(&url))
                .header(COOKIE, format!("parley_login={cookie}"))
                .form(&[("password", password), ("csrf", csrf)])
                .send()
        };
        // A forged form and a short password are refused, and the link still works.
        assert_eq!(post("a long enough password", "forged").await.unwrap().status(), StatusCode::FORBIDDEN, "{e}");
        assert_eq!(post("short", &csrf).await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let done = post("lan's own password", &csrf).await.unwrap();
        assert_eq!(done.status(), StatusCode::SEE_OTHER, "{e}");
        assert_eq!(done.headers()["location"], "/inbox");
        let session = cookie_of(&done, "parley_session").expect("logged in");
        let inbox = web_client()
            .get(app.url("/inbox"))
            .header(COOKIE, format!("parley_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(inbox.status(), StatusCode::OK, "{e}");
        assert!(inbox.text().await.unwrap().contains("Lan"));
        // Used once: the link is gone, and so is a second use.
        assert_eq!(web_client().get(app.url(&url)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{e}");
        assert_eq!(post("another password 123", &csrf).await.unwrap().status(), StatusCode::NOT_FOUND, "{e}");

        // A link expires after 7 days; a new one ends the previous one; agents make none.
        let first =
            app.post(&format!("/api/v1/users/{id}/invite"), json!({})).await.body["url"].as_str().unwrap().to_owned();
        let second =
            app.post(&format!("/api/v1/users/{id}/invite"), json!({})).await.body["url"].as_str().unwrap().to_owned();
        assert_eq!(web_client().get(app.url(&first)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{e}");
        assert_eq!(web_client().get(app.url(&second)).send().await.unwrap().status(), StatusCode::OK, "{e}");
        app.clock.advance_secs(7 * 24 * 3600);
        assert_eq!(web_client().get(app.url(&second)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{e}");
        let agent_token = app.token_for("agent", "agent@acme.example").await;
        let r =
            app.call_as(Some(&agent_token), Method::POST, &format!("/api/v1/users/{id}/invite"), Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e}");
        // A deactivated user gets no invitation.
        app.patch(&format!("/api/v1/users/{id}"), json!({"active": false})).await;
        let r = app.post(&format!("/api/v1/users/{id}/invite"), json!({})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "user_deactivated"), "{e}");
    }
}

/// An invitation goes by mail when the server has a relay (`?mail=true`): one mail at the
/// user's address with the whole link; without a relay it is refused, and nothing is mailed.
#[tokio::test]
async fn an_invitation_can_go_by_mail() {
    let smtp = crate::smtp::SmtpServer::start().await;
    for db in parley_store::testing::TestDatabase::all().await {
        let app = TestApp::spawn_knowing_addr(db, "acme", crate::smtp::mail_through(&smtp)).await;
        let e = app.engine();
        let created =
            app.post("/api/v1/users", json!({"email": "lan@acme.example", "name": "Lan", "role": "agent"})).await;
        let id = created.body["id"].as_i64().unwrap();
        let Some(smtp) = &smtp else {
            let r = app.post(&format!("/api/v1/users/{id}/invite?mail=true"), json!({})).await;
            assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "mail_not_configured"), "{e}");
            continue;
        };
        let before = smtp.mails().len();
        let invite = app.post(&format!("/api/v1/users/{id}/invite?mail=true"), json!({})).await;
        assert_eq!((invite.status, invite.body["mailed"].as_bool()), (StatusCode::CREATED, Some(true)), "{e}");
        let link = app.url(invite.body["url"].as_str().unwrap());
        let arrived = crate::helpers::eventually(20, || async { smtp.mails().len() == before + 1 }).await;
        assert!(arrived, "{e}: {} mails", smtp.mails().len());
        let mail = smtp.mails().into_iter().find(|m| m.contains(&link)).expect("the mail carries the whole link");
        assert!(mail.contains("To: lan@acme.example") && mail.contains("Subject: Your Parley invitation"), "{mail}");
        let plain = app.post(&format!("/api/v1/users/{id}/invite"), json!({})).await;
        assert_eq!(plain.body["mailed"], false, "{e}: not asked, not mailed");
    }
}
