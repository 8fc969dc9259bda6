//! Tests of the BUTTONS rules, each with a passing and a failing case.

use serde_json::{Value, json};

use crate::template::draft::tests::{auth, check, err};

fn with_buttons(buttons: Value) -> Value {
    json!({"name": "t", "language": "en", "category": "marketing", "components": [
        {"type": "BODY", "text": "Our summer sale starts today."},
        {"type": "BUTTONS", "buttons": buttons},
    ]})
}

fn otp(button: Value) -> Value {
    auth(json!([{"type": "BUTTONS", "buttons": [button]}]))
}

fn ok(v: Value) {
    if let Err(e) = check(v.clone()) {
        panic!("{v} should pass: {e}");
    }
}

fn refused(v: Value, field: &str, part: &str) {
    let (f, message) = err(v);
    assert_eq!(f, field, "{message}");
    assert!(message.contains(part), "{message:?} should contain {part:?}");
}

fn qr(text: &str) -> Value {
    json!({"type": "QUICK_REPLY", "text": text})
}

fn url(u: &str) -> Value {
    json!({"type": "URL", "text": "Open", "url": u})
}

fn phone(number: &str) -> Value {
    json!({"type": "PHONE_NUMBER", "text": "Call", "phone_number": number})
}

const B0: &str = "components.buttons[0]";

#[test]
fn the_list_has_one_to_ten_buttons() {
    ok(with_buttons(json!(vec![qr("Yes"); 10])));
    refused(with_buttons(json!([])), "components.buttons", "1 to 10");
    refused(with_buttons(json!(vec![qr("Yes"); 11])), "components.buttons", "1 to 10");
    let missing = json!({"name": "t", "language": "en", "category": "marketing", "components": [
        {"type": "BODY", "text": "Sale."}, {"type": "BUTTONS"}]});
    refused(missing, "components.buttons", "1 to 10");
}

#[test]
fn button_types() {
    refused(with_buttons(json!([{"type": "REQUEST_CONTACT_INFO", "text": "Share"}])), B0, "unknown type");
    refused(with_buttons(json!([{"text": "Share"}])), B0, "no type");
    refused(with_buttons(json!(["QUICK_REPLY"])), B0, "not an object");
    let t = check(with_buttons(
        json!([{"type": "quick_reply", "text": "Yes"}, {"type": "Url", "text": "Go", "url": "https://x.test"}]),
    ));
    let t = t.unwrap();
    assert_eq!(t.components[1]["buttons"][0]["type"], "QUICK_REPLY");
    assert_eq!(t.components[1]["buttons"][1]["type"], "URL");
}

#[test]
fn errors_name_the_button() {
    let (field, message) = err(with_buttons(json!([qr("Yes"), qr("No"), url("ftp://x.test")])));
    assert_eq!(field, "components.buttons[2]");
    assert!(message.starts_with("button 3 (URL) "), "{message}");
}

#[test]
fn labels() {
    ok(with_buttons(json!([qr(&"a".repeat(25))])));
    refused(with_buttons(json!([qr(&"a".repeat(26))])), B0, "25");
    refused(with_buttons(json!([qr(" ")])), B0, "needs a text");
    refused(with_buttons(json!([{"type": "QUICK_REPLY"}])), B0, "needs a text");
    refused(with_buttons(json!([qr("Hi {{1}}")])), B0, "variables");
    for kind in ["VOICE_CALL", "CATALOG", "MPM", "SPM"] {
        ok(with_buttons(json!([{"type": kind, "text": "Open"}])));
        refused(with_buttons(json!([{"type": kind}])), B0, "needs a text");
    }
}

#[test]
fn per_type_limits() {
    // Ten quick replies pass; an eleventh already breaks the list's limit of ten.
    ok(with_buttons(json!([qr("a"), qr("b"), qr("c"), qr("d"), qr("e"), qr("f"), qr("g"), qr("h"), qr("i"), qr("j")])));
    ok(with_buttons(json!([url("https://a.test"), url("https://b.test")])));
    refused(
        with_buttons(json!([url("https://a.test"), url("https://b.test"), url("https://c.test")])),
        "components.buttons[2]",
        "at most 2",
    );
}

#[test]
fn urls() {
    ok(with_buttons(json!([url("https://example.com/offers")])));
    ok(with_buttons(json!([url("http://example.com")])));
    let long = format!("https://example.com/{}", "a".repeat(1980));
    ok(with_buttons(json!([url(&long)])));
    refused(with_buttons(json!([url(&format!("{long}a"))])), B0, "2000");
    refused(with_buttons(json!([url("example.com")])), B0, "http");
    refused(with_buttons(json!([url("https://")])), B0, "no host");
    refused(with_buttons(json!([{"type": "URL", "text": "Open"}])), B0, "needs a url");
}

#[test]
fn url_variables() {
    let good = json!({"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}", "example": ["https://example.com/t/4411"]});
    ok(with_buttons(json!([good])));
    let mut no_example = good.clone();
    no_example.as_object_mut().unwrap().remove("example");
    refused(with_buttons(json!([no_example])), B0, "example");
    let mut other_site = good.clone();
    other_site["example"] = json!(["https://other.test/4411"]);
    refused(with_buttons(json!([other_site])), B0, "example");
    let mut bare = good.clone();
    bare["example"] = json!(["https://example.com/t/"]);
    refused(with_buttons(json!([bare])), B0, "example");
    let mut text_example = good;
    text_example["example"] = json!("https://example.com/t/4411");
    refused(with_buttons(json!([text_example])), B0, "example");

    for u in [
        "https://example.com/{{1}}/track",
        "https://example.com/t/{{2}}",
        "https://example.com/{{1}}/{{1}}",
        "https://example.com/t/{{name}}",
    ] {
        let button = json!({"type": "URL", "text": "Track", "url": u, "example": ["https://example.com/t/1"]});
        refused(with_buttons(json!([button])), B0, "at the very end");
    }
    let host = json!({"type": "URL", "text": "Track", "url": "https://{{1}}", "example": ["https://example.com"]});
    refused(with_buttons(json!([host])), B0, "host");
    let open = json!({"type": "URL", "text": "Track", "url": "https://example.com/{{1}", "example": ["https://example.com/1"]});
    refused(with_buttons(json!([open])), B0, "never closed");
}

#[test]
fn named_templates_keep_url_variable_one() {
    let v = json!({"name": "t", "language": "en", "category": "marketing", "parameter_format": "named", "components": [
        {"type": "BODY", "text": "Our summer sale starts today."},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}",
            "example": ["https://example.com/t/4411"]}]},
    ]});
    ok(v);
}

#[test]
fn phone_numbers() {
    ok(with_buttons(json!([phone("+5511900000000")])));
    ok(with_buttons(json!([phone(&format!("+{}", "1".repeat(19)))])));
    refused(with_buttons(json!([phone(&format!("+{}", "1".repeat(20)))])), B0, "phone_number");
    refused(with_buttons(json!([phone("5511900000000")])), B0, "phone_number");
    refused(with_buttons(json!([phone("+55 11 90000")])), B0, "phone_number");
    refused(with_buttons(json!([phone("+12345")])), B0, "phone_number");
    refused(with_buttons(json!([{"type": "PHONE_NUMBER", "text": "Call"}])), B0, "needs a phone_number");
    refused(
        with_buttons(json!([phone("+5511900000000"), phone("+5511900000001")])),
        "components.buttons[1]",
        "at most 1",
    );
}

#[test]
fn copy_codes() {
    ok(with_buttons(json!([{"type": "COPY_CODE", "example": "SUMMER25"}])));
    ok(with_buttons(json!([{"type": "COPY_CODE", "example": "a".repeat(20)}])));
    refused(with_buttons(json!([{"type": "COPY_CODE", "example": "a".repeat(21)}])), B0, "1 to 20");
    refused(with_buttons(json!([{"type": "COPY_CODE"}])), B0, "example code");
    refused(with_buttons(json!([{"type": "COPY_CODE", "example": ""}])), B0, "example code");
    let two = json!([{"type": "COPY_CODE", "example": "A"}, {"type": "COPY_CODE", "example": "B"}]);
    refused(with_buttons(two), "components.buttons[1]", "at most 1");
}

#[test]
fn flows() {
    ok(with_buttons(
        json!([{"type": "FLOW", "text": "Book", "flow_id": "123", "flow_action": "navigate", "navigate_screen": "WELCOME"}]),
    ));
    ok(with_buttons(json!([{"type": "FLOW", "text": "Book", "flow_id": 123}])));
    ok(with_buttons(json!([{"type": "FLOW", "text": "Book", "flow_json": "{\"version\":\"6.0\"}"}])));
    refused(with_buttons(json!([{"type": "FLOW", "text": "Book"}])), B0, "exactly one of flow_id");
    refused(
        with_buttons(json!([{"type": "FLOW", "text": "Book", "flow_id": "1", "flow_json": "{}"}])),
        B0,
        "exactly one of flow_id",
    );
    refused(
        with_buttons(json!([{"type": "FLOW", "text": "Book", "flow_id": "1", "flow_action": "open"}])),
        B0,
        "flow_action",
    );
    refused(with_buttons(json!([{"type": "FLOW", "flow_id": "1"}])), B0, "needs a text");
}

#[test]
fn quick_replies_are_grouped() {
    let u = || url("https://example.com");
    let p = || phone("+5511900000000");
    ok(with_buttons(json!([qr("a"), qr("b"), u(), p()])));
    ok(with_buttons(json!([u(), p(), qr("a"), qr("b")])));
    ok(with_buttons(json!([u(), p()])));
    refused(with_buttons(json!([qr("a"), u(), qr("b")])), "components.buttons", "together");
    refused(with_buttons(json!([u(), qr("a"), p()])), "components.buttons", "together");
}

#[test]
fn otp_only_in_authentication() {
    refused(with_buttons(json!([{"type": "OTP", "otp_type": "COPY_CODE"}])), B0, "only for authentication");
    ok(otp(json!({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"})));
    refused(otp(json!({"type": "OTP", "otp_type": "COPY_CODE", "text": "a".repeat(26)})), B0, "25");
    let extra = auth(json!([{"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}, qr("Not me")]}]));
    refused(extra, "components.buttons[1]", "only its OTP button");
    let two = auth(
        json!([{"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}, {"type": "OTP", "otp_type": "COPY_CODE"}]}]),
    );
    refused(two, "components.buttons[1]", "at most 1");
    refused(otp(json!({"type": "URL", "text": "Open", "url": "https://x.test"})), B0, "only its OTP button");
}

#[test]
fn otp_types() {
    refused(otp(json!({"type": "OTP"})), B0, "otp_type");
    refused(otp(json!({"type": "OTP", "otp_type": "MAGIC_LINK"})), B0, "otp_type");
    let app = json!({"package_name": "com.example.app", "signature_hash": "K8a/AINcGX7"});
    let t =
        check(otp(json!({"type": "OTP", "otp_type": "one_tap", "autofill_text": "Autofill", "supported_apps": [app]})));
    assert_eq!(t.unwrap().components[1]["buttons"][0]["otp_type"], "ONE_TAP");
    refused(otp(json!({"type": "OTP", "otp_type": "ONE_TAP"})), B0, "supported_apps");
    refused(otp(json!({"type": "OTP", "otp_type": "ONE_TAP", "supported_apps": []})), B0, "supported_apps");
    let six = json!(vec![app.clone(); 6]);
    refused(otp(json!({"type": "OTP", "otp_type": "ONE_TAP", "supported_apps": six})), B0, "supported_apps");
    let no_dot = json!({"package_name": "app", "signature_hash": "K8a/AINcGX7"});
    refused(otp(json!({"type": "OTP", "otp_type": "ONE_TAP", "supported_apps": [no_dot]})), B0, "package_name");
    let short_hash = json!({"package_name": "com.example.app", "signature_hash": "K8a"});
    refused(otp(json!({"type": "OTP", "otp_type": "ONE_TAP", "supported_apps": [short_hash]})), B0, "signature_hash");
    let long_autofill =
        json!({"type": "OTP", "otp_type": "ONE_TAP", "autofill_text": "a".repeat(26), "supported_apps": [app]});
    refused(otp(long_autofill), B0, "autofill_text");
}

#[test]
fn zero_tap_needs_the_terms() {
    let app = json!({"package_name": "com.example.app", "signature_hash": "K8a/AINcGX7"});
    ok(otp(json!({"type": "OTP", "otp_type": "ZERO_TAP", "zero_tap_terms_accepted": true, "supported_apps": [app]})));
    refused(
        otp(json!({"type": "OTP", "otp_type": "ZERO_TAP", "supported_apps": [app]})),
        B0,
        "zero_tap_terms_accepted",
    );
    refused(
        otp(json!({"type": "OTP", "otp_type": "ZERO_TAP", "zero_tap_terms_accepted": false, "supported_apps": [app]})),
        B0,
        "zero_tap_terms_accepted",
    );
    refused(otp(json!({"type": "OTP", "otp_type": "ZERO_TAP", "zero_tap_terms_accepted": true})), B0, "supported_apps");
}
