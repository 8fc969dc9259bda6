//! What the server answers when its database fails under it, on both engines: a logged 5xx that
//! says so, never an answer that blames the caller ("wrong password", "signed out").

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use sqlx::Connection;

use crate::helpers::{OWNER_PASSWORD, TestApp, web_client};
use crate::web::{login_form, post_login, session};

/// Takes the `users` table away through a connection of our own, as an operator's mistake or a
/// broken migration would: every query of the server that reads users fails from then on.
async fn lose_the_users_table(app: &TestApp) {
    let db = &app.db;
    match (db.dir(), db.schema.as_deref()) {
        (Some(dir), _) => {
            let url = format!("sqlite://{}", dir.join("parley.db").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("a second SQLite connection");
            sqlx::query("ALTER TABLE users RENAME TO users_gone").execute(&mut conn).await.expect("rename users");
            conn.close().await.ok();
        }
        (None, Some(schema)) => {
            let parley_store::DatabaseUrl::Postgres(url) = &db.url else { unreachable!("a schema is PostgreSQL's") };
            let mut conn = sqlx::PgConnection::connect(url).await.expect("a second PostgreSQL connection");
            let sql = format!("ALTER TABLE {schema}.users RENAME TO users_gone");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("rename users");
            conn.close().await.ok();
        }
        (None, None) => unreachable!("a test database is a SQLite file or a PostgreSQL schema"),
    }
}

#[tokio::test]
async fn a_login_or_a_session_whose_store_fails_is_a_server_error_not_a_wrong_password() {
    for app in TestApp::all().await {
        let e = app.engine();
        let (session_secret, _) = session(&app).await;
        let (cookie, csrf) = login_form(&app).await;
        lose_the_users_table(&app).await;

        let login = post_login(&app, &cookie, &csrf, "owner@acme.example", OWNER_PASSWORD).await;
        assert_eq!(login.status(), StatusCode::INTERNAL_SERVER_ERROR, "{e}: the right password, a failing store");
        let html = login.text().await.unwrap();
        assert!(!html.contains("Wrong email or password"), "{e}: blamed the password: {html}");

        // A signed-in user whose session cannot be read is not sent to log in again.
        let inbox = web_client()
            .get(app.url("/inbox"))
            .header(COOKIE, format!("parley_session={session_secret}"))
            .send()
            .await
            .unwrap();
        assert_eq!(inbox.status(), StatusCode::INTERNAL_SERVER_ERROR, "{e}: {:?}", inbox.headers().get("location"));
    }
}
