//! Path parameters and list limits, on every route the OpenAPI document lists, on both engines:
//! an id that is no id answers our JSON error (`400 invalid_request`, the parameter as its
//! field) before anything is looked up, and every list's `limit` is refused in the same words.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Ids that name nothing: letters, a suffix, a sign, zero, and more than an `i64` holds.
const BAD_IDS: [&str; 6] = ["abc", "1x", "-1", "0", "+1", "99999999999999999999"];

/// The routes under `/api/v1/` and their methods, from the server's own document.
async fn api_routes(app: &TestApp) -> Vec<(String, Value)> {
    let doc = app.get("/api/openapi.json").await.body;
    let paths = doc["paths"].as_object().expect("paths in the OpenAPI document");
    paths
        .iter()
        .filter(|(template, _)| template.starts_with("/api/v1/") && template.as_str() != "/api/v1/events/stream")
        .map(|(template, ops)| (template.clone(), ops.clone()))
        .collect()
}

/// `template` with `bad` in the parameter `name` and harmless values in the others.
fn fill(template: &str, name: &str, bad: &str) -> String {
    let mut path = template.replace(&format!("{{{name}}}"), bad);
    for (param, value) in [("{id}", "1"), ("{ref}", "1"), ("{name}", "walk"), ("{language}", "en"), ("{tag}", "walk")] {
        path = path.replace(param, value);
    }
    path
}

fn methods(ops: &Value) -> Vec<Method> {
    ops.as_object().unwrap().keys().map(|m| Method::from_bytes(m.to_uppercase().as_bytes()).unwrap()).collect()
}

#[tokio::test]
async fn a_bad_id_in_any_path_is_a_json_invalid_request_naming_the_parameter() {
    for app in TestApp::all().await {
        let e = app.engine();
        let mut walked = 0;
        for (template, ops) in api_routes(&app).await {
            for name in ["id", "ref"].into_iter().filter(|n| template.contains(&format!("{{{n}}}"))) {
                for method in methods(&ops) {
                    for bad in BAD_IDS {
                        let path = fill(&template, name, bad);
                        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
                        let r = app.call(method.clone(), &path, body).await;
                        walked += 1;
                        let what = format!("{e}: {method} {path} answered {} {}", r.status, r.body);
                        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{what}");
                        assert_eq!(r.body["error"]["field"], name, "{what}");
                        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
                    }
                }
            }
        }
        assert!(walked > 300, "{e}: only {walked} calls: did the document lose its routes?");
    }
}

#[tokio::test]
async fn every_list_refuses_a_limit_out_of_bounds_in_the_same_words() {
    for app in TestApp::all().await {
        let e = app.engine();
        let mut lists = Vec::new();
        for (template, ops) in api_routes(&app).await {
            let Some(get) = ops.get("get") else { continue };
            let params = get["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["name"] == "limit" && p["in"] == "query") {
                lists.push(fill(&template, "id", "1"));
            }
        }
        assert!(lists.len() >= 8, "{e}: only these lists take a limit: {lists:?}");
        for list in &lists {
            // Searches need their words; everything else takes the limit alone.
            let query = if list.starts_with("/api/v1/search") { "q=walk&" } else { "" };
            for bad in ["0", "100000"] {
                let r = app.get(&format!("{list}?{query}limit={bad}")).await;
                let what = format!("{e}: {list}?limit={bad} answered {} {}", r.status, r.body);
                assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{what}");
                assert_eq!(r.body["error"]["field"], "limit", "{what}");
                let message = r.body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.starts_with("limit is between 1 and "), "{what}");
            }
        }
    }
}
