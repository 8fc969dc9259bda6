//! Tests of the HEADER, BODY and FOOTER rules, each with a passing and a failing case.

use serde_json::{Value, json};

use crate::template::draft::tests::{auth, check, err};

const BODY: &str = "components.body";
const HEADER: &str = "components.header";
const FOOTER: &str = "components.footer";

fn draft(format: &str, components: Value) -> Value {
    json!({"name": "t", "language": "en", "category": "utility", "parameter_format": format, "components": components})
}

fn plain_body() -> Value {
    json!({"type": "BODY", "text": "Your order shipped."})
}

fn body(text: &str, values: &[&str]) -> Value {
    draft("positional", json!([{"type": "BODY", "text": text, "example": {"body_text": [values]}}]))
}

fn named_body(text: &str, examples: Value) -> Value {
    draft("named", json!([{"type": "BODY", "text": text, "example": {"body_text_named_params": examples}}]))
}

fn header(h: Value) -> Value {
    draft("positional", json!([h, plain_body()]))
}

fn footer(f: Value) -> Value {
    draft("positional", json!([plain_body(), f]))
}

/// Asserts the draft is refused on `field` with a message containing `part`.
fn refused(v: Value, field: &str, part: &str) {
    let (f, message) = err(v);
    assert_eq!(f, field, "{message}");
    assert!(message.contains(part), "{message:?} should contain {part:?}");
}

fn ok(v: Value) {
    if let Err(e) = check(v.clone()) {
        panic!("{v} should pass: {e}");
    }
}

#[test]
fn header_text_length() {
    ok(header(json!({"type": "HEADER", "format": "TEXT", "text": "a".repeat(60)})));
    refused(header(json!({"type": "HEADER", "format": "TEXT", "text": "a".repeat(61)})), HEADER, "60");
    refused(header(json!({"type": "HEADER", "format": "TEXT", "text": " "})), HEADER, "the header's text is required");
    refused(header(json!({"type": "HEADER", "format": "TEXT"})), HEADER, "required");
}

#[test]
fn header_text_variables() {
    let one = json!({"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["4411"]}});
    ok(header(one));
    let two = json!({"type": "HEADER", "format": "TEXT", "text": "{{1}} {{2}}", "example": {"header_text": ["a"]}});
    refused(header(two), HEADER, "at most one variable");
    refused(header(json!({"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"})), HEADER, "example.header_text");
    let empty = json!({"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": [""]}});
    refused(header(empty), HEADER, "example.header_text");
    let gap = json!({"type": "HEADER", "format": "TEXT", "text": "Order {{2}}", "example": {"header_text": ["a"]}});
    refused(header(gap), HEADER, "{{1}} is missing");
}

#[test]
fn header_text_named_variables() {
    let good = json!({"type": "HEADER", "format": "TEXT", "text": "Order {{order_id}}",
        "example": {"header_text_named_params": [{"param_name": "order_id", "example": "4411"}]}});
    ok(draft("named", json!([good, plain_body()])));
    let wrong = json!({"type": "HEADER", "format": "TEXT", "text": "Order {{order_id}}",
        "example": {"header_text_named_params": [{"param_name": "order", "example": "4411"}]}});
    refused(draft("named", json!([wrong, plain_body()])), HEADER, "\"order\"");
}

#[test]
fn header_text_has_no_formatting_or_line_break() {
    ok(header(json!({"type": "HEADER", "format": "TEXT", "text": "Big sale: 50% off!"})));
    for text in ["*Big* sale", "_sale_", "~sale~", "`sale`"] {
        refused(header(json!({"type": "HEADER", "format": "TEXT", "text": text})), HEADER, "formatting");
    }
    refused(header(json!({"type": "HEADER", "format": "TEXT", "text": "Big\nsale"})), HEADER, "one line");
    // An underscore inside a named placeholder is not formatting.
    let named = json!({"type": "HEADER", "format": "TEXT", "text": "Hi {{first_name}}",
        "example": {"header_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}});
    ok(draft("named", json!([named, plain_body()])));
}

#[test]
fn header_formats() {
    refused(header(json!({"type": "HEADER", "text": "x"})), HEADER, "needs a format");
    refused(header(json!({"type": "HEADER", "format": "AUDIO"})), HEADER, "\"AUDIO\"");
    refused(header(json!({"type": "HEADER", "format": "GIF", "example": {"header_handle": ["h"]}})), HEADER, "GIF");
    let t = check(header(json!({"type": "HEADER", "format": "text", "text": "Hi"}))).unwrap();
    assert_eq!(t.components[0]["format"], "TEXT");
}

#[test]
fn media_headers_need_a_handle() {
    for format in ["IMAGE", "video", "Document"] {
        ok(header(json!({"type": "HEADER", "format": format, "example": {"header_handle": ["4::aW1n"]}})));
        refused(header(json!({"type": "HEADER", "format": format})), HEADER, "header_handle");
        refused(
            header(json!({"type": "HEADER", "format": format, "example": {"header_handle": [""]}})),
            HEADER,
            "header_handle",
        );
        refused(
            header(json!({"type": "HEADER", "format": format, "example": {"header_handle": ["a", "b"]}})),
            HEADER,
            "header_handle",
        );
    }
    let with_text = json!({"type": "HEADER", "format": "IMAGE", "text": "x", "example": {"header_handle": ["h"]}});
    refused(header(with_text), HEADER, "no text");
}

#[test]
fn location_headers() {
    ok(header(json!({"type": "HEADER", "format": "LOCATION"})));
    refused(
        header(json!({"type": "HEADER", "format": "LOCATION", "example": {"header_handle": ["h"]}})),
        HEADER,
        "no example",
    );
    refused(header(json!({"type": "HEADER", "format": "LOCATION", "text": "x"})), HEADER, "no text");
}

#[test]
fn body_text_length() {
    ok(draft("positional", json!([{"type": "BODY", "text": "a".repeat(1024)}])));
    refused(draft("positional", json!([{"type": "BODY", "text": "a".repeat(1025)}])), BODY, "1024");
    refused(draft("positional", json!([{"type": "BODY", "text": ""}])), BODY, "the body's text is required");
    refused(draft("positional", json!([{"type": "BODY"}])), BODY, "required");
    refused(draft("positional", json!([{"type": "BODY", "text": 5}])), BODY, "string");
}

#[test]
fn body_variables_are_sequential() {
    ok(body("Hi {{1}}, your order {{2}} is ready.", &["Ana", "4411"]));
    ok(body("Your order {{2}} for {{1}} is ready now.", &["Ana", "4411"]));
    refused(body("Hi {{1}}, your order {{3}} is ready.", &["Ana", "4411"]), BODY, "{{2}} is missing");
    refused(body("Hi {{2}}, your order is ready.", &["Ana"]), BODY, "{{1}} is missing");
    refused(body("Hi {{1}}, your order {{1}} is ready.", &["Ana", "Ana"]), BODY, "twice");
    refused(body("Hi {{01}}, your order is ready.", &["Ana"]), BODY, "invalid variable");
}

#[test]
fn body_variables_match_the_format() {
    refused(body("Hi {{first_name}}, your order is ready.", &["Ana"]), BODY, "parameter_format is positional");
    let examples = json!([{"param_name": "first_name", "example": "Ana"}]);
    ok(named_body("Hi {{first_name}}, your order is ready.", examples.clone()));
    refused(named_body("Hi {{1}}, your order is ready.", examples), BODY, "parameter_format is named");
    let line2 = json!([{"param_name": "line2", "example": "Apt 3"}]);
    ok(named_body("Deliver to {{line2}} before noon.", line2));
    for name in ["First", "_x", "2nd", "first-name", "first name"] {
        let examples = json!([{"param_name": name, "example": "Ana"}]);
        refused(named_body(&format!("Hi {{{{{name}}}}}, your order is ready."), examples), BODY, "invalid variable");
    }
    let twice = json!([{"param_name": "name", "example": "Ana"}]);
    refused(named_body("Hi {{name}}, yes {{name}}, ready.", twice), BODY, "twice");
}

#[test]
fn body_variables_have_no_special_characters() {
    for inner in ["#1", "$1", "%1", "1 ", " 1", "", "1.5", "-1"] {
        refused(body(&format!("Hi {{{{{inner}}}}}, your order is ready."), &["Ana"]), BODY, "invalid variable");
    }
}

#[test]
fn body_braces_are_balanced() {
    refused(body("Hi {{1}, your order is ready.", &["Ana"]), BODY, "never closed");
    refused(body("Hi 1}}, your order is ready.", &["Ana"]), BODY, "without a matching");
    refused(body("Hi }} {{1}}, your order is ready.", &["Ana"]), BODY, "without a matching");
    ok(draft("positional", json!([{"type": "BODY", "text": "Single {braces} are text."}])));
}

#[test]
fn body_does_not_start_or_end_with_a_variable() {
    refused(body("{{1}}, your order is ready.", &["Ana"]), BODY, "start");
    refused(body("  \n{{1}}, your order is ready.", &["Ana"]), BODY, "start");
    refused(body("Your order is ready, {{1}}", &["Ana"]), BODY, "end");
    refused(body("Your order is ready, {{1}}  \n", &["Ana"]), BODY, "end");
    ok(body("*{{1}}* is your order number, see you.", &["4411"]));
    ok(body("Your order is ready, {{1}}.", &["Ana"]));
}

#[test]
fn body_variables_are_not_adjacent() {
    refused(body("Hi {{1}}{{2}}, your order is ready now.", &["a", "b"]), BODY, "no text between");
    refused(body("Hi {{1}} \n {{2}}, your order is ready now.", &["a", "b"]), BODY, "no text between");
    ok(body("Hi {{1}}, {{2}}, your order is ready now.", &["a", "b"]));
}

#[test]
fn body_has_enough_words_for_its_variables() {
    ok(body("Hello {{1}}, your order {{2}} shipped.", &["Ana", "4411"]));
    refused(body("Hi {{1}} and {{2}} ok", &["a", "b"]), BODY, "too many variables");
    refused(body("Hi {{1}} - {{2}} - {{3}} - bye", &["a", "b", "c"]), BODY, "too many variables");
}

#[test]
fn body_positional_examples() {
    refused(
        draft("positional", json!([{"type": "BODY", "text": "Hi {{1}}, your order is ready."}])),
        BODY,
        "example.body_text",
    );
    refused(body("Hi {{1}}, your order {{2}} is ready.", &["Ana"]), BODY, "gives 1 value");
    refused(body("Hi {{1}}, your order is ready.", &[" "]), BODY, "example value 1");
    let flat = json!([{"type": "BODY", "text": "Hi {{1}}, your order is ready.", "example": {"body_text": ["Ana"]}}]);
    refused(draft("positional", flat), BODY, "example.body_text");
    let named_examples = json!([{"type": "BODY", "text": "Hi {{1}}, your order is ready.",
        "example": {"body_text_named_params": [{"param_name": "1", "example": "Ana"}]}}]);
    refused(draft("positional", named_examples), BODY, "example.body_text");
}

#[test]
fn body_named_examples() {
    let text = "Hi {{first_name}}, order {{order_id}} is ready.";
    let good = json!([{"param_name": "order_id", "example": "4411"}, {"param_name": "first_name", "example": "Ana"}]);
    ok(named_body(text, good));
    refused(
        named_body(text, json!([{"param_name": "first_name", "example": "Ana"}])),
        BODY,
        "no example for \"order_id\"",
    );
    let extra = json!([{"param_name": "first_name", "example": "Ana"}, {"param_name": "order_id", "example": "1"},
        {"param_name": "city", "example": "Porto"}]);
    refused(named_body(text, extra), BODY, "\"city\"");
    let twice = json!([{"param_name": "first_name", "example": "Ana"}, {"param_name": "first_name", "example": "Bo"}]);
    refused(named_body(text, twice), BODY, "twice");
    let blank = json!([{"param_name": "first_name", "example": ""}, {"param_name": "order_id", "example": "1"}]);
    refused(named_body(text, blank), BODY, "empty");
    refused(named_body(text, json!([{"param_name": "first_name"}])), BODY, "param_name and an example");
    let positional = json!([{"type": "BODY", "text": text, "example": {"body_text": [["Ana", "4411"]]}}]);
    refused(draft("named", positional), BODY, "body_text_named_params");
}

#[test]
fn footers() {
    ok(footer(json!({"type": "FOOTER", "text": "a".repeat(60)})));
    refused(footer(json!({"type": "FOOTER", "text": "a".repeat(61)})), FOOTER, "60");
    refused(footer(json!({"type": "FOOTER", "text": ""})), FOOTER, "required");
    refused(footer(json!({"type": "FOOTER", "text": "Shop {{1}}"})), FOOTER, "variables");
    refused(footer(json!({"type": "FOOTER", "text": "Shop {{1}"})), FOOTER, "never closed");
    refused(footer(json!({"type": "FOOTER", "code_expiration_minutes": 10})), FOOTER, "only for authentication");
}

#[test]
fn authentication_footers() {
    let with_footer =
        |f: Value| auth(json!([{"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}, f]));
    for minutes in [1, 10, 90] {
        ok(with_footer(json!({"type": "FOOTER", "code_expiration_minutes": minutes})));
    }
    for minutes in [json!(0), json!(91), json!("10")] {
        refused(with_footer(json!({"type": "FOOTER", "code_expiration_minutes": minutes})), FOOTER, "1 to 90");
    }
    refused(with_footer(json!({"type": "FOOTER"})), FOOTER, "1 to 90");
    refused(with_footer(json!({"type": "FOOTER", "text": "Shop"})), FOOTER, "no text");
}
