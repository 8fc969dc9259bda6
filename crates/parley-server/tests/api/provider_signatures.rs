//! Providers' webhook signatures cross-checked with the providers' own code (issue 20), pinned
//! in `tests/pywa/requirements.txt`: a request signed by Twilio's `RequestValidator` or a token
//! made MessageBird's way passes Parley's check, one Parley signs passes theirs, and a changed
//! byte fails both. Twilio: form posts (repeated names, non-ASCII values, the default port or
//! not, both algorithms) and JSON bodies signed through `bodySHA256`. MessageBird:
//! `MessageBird-Signature-JWT` in its three algorithms, with and without a body. Needs
//! `PARLEY_PYWA_PYTHON` (made by `.ci/run`); skipped without it on a developer's machine,
//! failed in CI.

use std::io::Write;
use std::process::{Command, Stdio};

use parley_providers::twilio::signature::{self, Algorithm, Body, Refused};
use serde_json::{Value, json};

fn python() -> Option<String> {
    match std::env::var("PARLEY_PYWA_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if parley_store::testing::running_in_ci() => panic!("CI=true but PARLEY_PYWA_PYTHON is not set"),
        _ => None,
    }
}

/// Twilio's validator's answers to `cases`.
fn twilio(python: &str, cases: &Value) -> Vec<Value> {
    run_script(python, "twilio_validator.py", cases)
}

/// Runs `tests/pywa/<script>` with `cases` as JSON on its input; answers its JSON output.
fn run_script(python: &str, script: &str, cases: &Value) -> Vec<Value> {
    let script = format!("{}/tests/pywa/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child.stdin.take().unwrap().write_all(cases.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("answers as JSON")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn form(params: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish().into_bytes()
}

#[test]
fn twilio_signatures_agree_with_twilios_own_validator() {
    let Some(python) = python() else {
        eprintln!("skipping: PARLEY_PYWA_PYTHON is not set");
        return;
    };
    let token = "a3f1c0ffee0123456789abcdef012345";
    let inbound = pairs(&[
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "whatsapp:+5511987650000"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "Olá! Tôi muốn đổi địa chỉ giao hàng 🚚 & more=yes"),
        ("ProfileName", "Ana Lima"),
        ("WaId", "5511987650000"),
        ("NumMedia", "2"),
        ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
        ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
        // A name repeated, with values out of order and one twice.
        ("Tag", "z"),
        ("Tag", "a"),
        ("Tag", "z"),
    ]);
    let urls = [
        "https://parley.example.com/webhooks/twilio/4f2a9c",
        "https://parley.example.com:443/webhooks/twilio/4f2a9c?channel=7&x=%20y",
        "http://127.0.0.1:8080/webhooks/twilio/4f2a9c",
    ];
    let json_body = r#"{"MessageSid":"SM1","MessageStatus":"delivered","ErrorCode":null}"#;
    let json_url = signature::json_url(urls[0], json_body.as_bytes());

    // Twilio signs; Parley checks.
    let mut cases = Vec::new();
    for url in urls {
        for algorithm in [None, Some("HMAC_SHA256")] {
            cases.push(json!({"op": "sign", "token": token, "url": url, "params": inbound, "algorithm": algorithm}));
        }
    }
    cases.push(json!({"op": "sign", "token": token, "url": json_url, "params": [], "algorithm": null}));
    let signed = twilio(&python, &Value::Array(cases));
    let body = form(&inbound);
    let mut i = 0;
    for url in urls {
        for settings in [None, Some("key=webhooks_sharedkey_1,algorithm=HMAC_SHA256")] {
            let sig = signed[i].as_str().unwrap();
            i += 1;
            assert_eq!(
                signature::verify(token, url, Body::Form(&body), Some(sig), settings),
                Ok(()),
                "{url} {settings:?}"
            );
            let mut changed = body.clone();
            let at = changed.len() / 2;
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            let refused = signature::verify(token, url, Body::Form(&changed), Some(sig), settings);
            assert_eq!(refused, Err(Refused::Mismatch), "{url}: a changed byte");
        }
    }
    let json_sig = signed[i].as_str().unwrap();
    assert_eq!(signature::verify(token, &json_url, Body::Json(json_body.as_bytes()), Some(json_sig), None), Ok(()));
    let altered = json_body.replace("delivered", "delivereD");
    let refused = signature::verify(token, &json_url, Body::Json(altered.as_bytes()), Some(json_sig), None);
    assert_eq!(refused, Err(Refused::BodyHash));

    // Parley signs; Twilio checks (and refuses a changed byte).
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for url in urls {
        for (algorithm, name) in [(Algorithm::Sha1, None), (Algorithm::Sha256, Some("HMAC_SHA256"))] {
            let sig = signature::sign(token, algorithm, url, &inbound);
            cases.push(json!({"op": "validate_form", "token": token, "url": url, "params": inbound, "signature": sig, "algorithm": name}));
            expected.push(true);
            let mut changed = inbound.clone();
            changed[4].1.push('!');
            cases.push(json!({"op": "validate_form", "token": token, "url": url, "params": changed, "signature": sig, "algorithm": name}));
            expected.push(false);
        }
    }
    let sig = signature::sign(token, Algorithm::Sha1, &json_url, &[]);
    cases.push(json!({"op": "validate_json", "token": token, "url": json_url, "body": json_body, "signature": sig}));
    expected.push(true);
    cases.push(json!({"op": "validate_json", "token": token, "url": json_url, "body": altered, "signature": sig}));
    expected.push(false);
    let answers: Vec<bool> = twilio(&python, &Value::Array(cases)).iter().map(|a| a.as_bool().unwrap()).collect();
    assert_eq!(answers, expected, "Twilio's validator on Parley's signatures");
}

/// MessageBird's validator's answers to `cases`.
fn messagebird(python: &str, cases: &Value) -> Vec<Value> {
    run_script(python, "messagebird_validator.py", cases)
}

#[test]
fn messagebird_tokens_agree_with_messagebirds_own_validator() {
    use parley_providers::messagebird::signature as mb;
    let Some(python) = python() else {
        eprintln!("skipping: PARLEY_PYWA_PYTHON is not set");
        return;
    };
    let key = "PlLrKaqvZNRR5zAjm42ZT6q1SQxgbbGd";
    let url = "https://parley.example.com/webhooks/messagebird/4f2a9c?channel=7&x=%20y";
    let body = r#"{"type":"message.created","contact":{"displayName":"Bảo Trần"},"message":{"content":{"text":"Xin chào 👋"}}}"#;
    // Python's validator reads the system clock: Parley's tokens are made on it too.
    let now = parley_core::Timestamp::from_datetime(chrono::Utc::now());

    // MessageBird's way signs (each algorithm, with and without a body); Parley checks.
    let mut cases = Vec::new();
    for algorithm in ["HS256", "HS384", "HS512"] {
        for b in [body, ""] {
            cases.push(json!({"op": "sign", "key": key, "url": url, "body": b, "algorithm": algorithm, "jti": "j-1"}));
        }
    }
    let tokens = messagebird(&python, &Value::Array(cases));
    for (i, token) in tokens.iter().enumerate() {
        let token = token.as_str().unwrap();
        let b = if i % 2 == 0 { body } else { "" };
        let claims = mb::verify(key, url, b.as_bytes(), Some(token), now).unwrap_or_else(|e| panic!("token {i}: {e}"));
        assert_eq!(claims.jti.as_deref(), Some("j-1"));
        let changed = format!("{b} ");
        assert_eq!(
            mb::verify(key, url, changed.as_bytes(), Some(token), now),
            Err(mb::Refused::PayloadHash),
            "token {i}"
        );
        let other_url = url.replace("channel=7", "channel=8");
        assert_eq!(mb::verify(key, &other_url, b.as_bytes(), Some(token), now), Err(mb::Refused::UrlHash), "token {i}");
    }

    // Parley signs; MessageBird's validator checks, and refuses a changed byte or URL.
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for b in [body, ""] {
        let token = mb::sign(key, url, b.as_bytes(), now, 60, Some("j-2".into()));
        cases.push(json!({"op": "validate", "key": key, "url": url, "body": b, "token": token}));
        expected.push(true);
        cases.push(json!({"op": "validate", "key": key, "url": url, "body": format!("{b}x"), "token": token}));
        expected.push(false);
        cases.push(json!({"op": "validate", "key": key, "url": format!("{url}&more=1"), "body": b, "token": token}));
        expected.push(false);
        cases.push(json!({"op": "validate", "key": "another-signing-key", "url": url, "body": b, "token": token}));
        expected.push(false);
    }
    let answers: Vec<bool> = messagebird(&python, &Value::Array(cases)).iter().map(|a| a.as_bool().unwrap()).collect();
    assert_eq!(answers, expected, "MessageBird's validator on Parley's tokens");
}
