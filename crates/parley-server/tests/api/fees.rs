//! WhatsApp fees (issue 19) through the API, on both engines: the rate card in force, for
//! owners and managers, marked when it is the sample.

use parley_core::Clock;
use reqwest::{Method, StatusCode};

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
