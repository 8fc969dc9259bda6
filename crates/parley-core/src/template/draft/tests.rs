//! Tests of the top-level draft rules (name, language, category, parameter format, TTL, the
//! component list, authentication structure) and of the create and edit bodies.

use serde_json::{Value, json};

use super::*;

pub(crate) fn check(v: Value) -> Result<ValidTemplate, Invalid> {
    serde_json::from_value::<TemplateDraft>(v).expect("a draft").validate()
}

/// (field, message) of the error a draft gets.
pub(crate) fn err(v: Value) -> (String, String) {
    let e = check(v).expect_err("the draft should be refused");
    assert_eq!(e.code, "invalid_template");
    (e.field.unwrap_or_default(), e.message)
}

/// The spec's §7.2 example.
fn order_update() -> Value {
    json!({
        "name": "order_update", "language": "pt_BR", "category": "UTILITY", "parameter_format": "positional",
        "message_send_ttl_seconds": 3600,
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["4411"]}},
            {"type": "BODY", "text": "Olá {{1}}, seu pedido {{2}} saiu para entrega.",
             "example": {"body_text": [["Ana", "4411"]]}},
            {"type": "FOOTER", "text": "Loja Exemplo"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Falar com atendente"},
                {"type": "URL", "text": "Rastrear", "url": "https://example.com/t/{{1}}",
                 "example": ["https://example.com/t/4411"]},
                {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "+5511900000000"}]}
        ]
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut v = order_update();
    v[field] = value;
    v
}

pub(crate) fn auth(components: Value) -> Value {
    json!({"name": "login_code", "language": "en", "category": "authentication", "components": components})
}

#[test]
fn the_spec_example_is_valid() {
    let t = check(order_update()).unwrap();
    assert_eq!(t.category, TemplateCategory::Utility);
    assert_eq!(t.parameter_format, ParameterFormat::Positional);
    assert_eq!(t.components, order_update()["components"].as_array().unwrap().clone());
    assert_eq!(t.message_send_ttl_seconds, Some(3600));
}

#[test]
fn names() {
    assert!(check_template_name("order_update_2").is_ok());
    assert!(check_template_name(&"a".repeat(512)).is_ok());
    for bad in ["", "Order", "order-update", "order update", "pédido", &"a".repeat(513)] {
        let e = check_template_name(bad).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("name"), "{bad}");
    }
    assert_eq!(err(with("name", json!("Order"))).0, "name");
}

#[test]
fn languages() {
    for good in ["en", "en_US", "pt_BR", "fil", "prs_AF", "zu"] {
        assert!(check_language(good).is_ok(), "{good}");
    }
    for bad in ["", "pt-BR", "pt_br", "EN", "xx", "klingon"] {
        assert_eq!(check_language(bad).unwrap_err().field.as_deref(), Some("language"), "{bad}");
    }
    assert_eq!(err(with("language", json!("pt-BR"))).0, "language");
    assert_eq!(SUPPORTED_LANGUAGES.len(), 111);
}

#[test]
fn categories_in_any_case() {
    let mut v = order_update();
    v.as_object_mut().unwrap().remove("message_send_ttl_seconds");
    for (given, category) in [("Marketing", TemplateCategory::Marketing), ("utility", TemplateCategory::Utility)] {
        v["category"] = json!(given);
        assert_eq!(check(v.clone()).unwrap().category, category);
    }
    let (field, message) = err(with("category", json!("service")));
    assert_eq!(field, "category");
    assert!(message.contains("service"), "{message}");
}

#[test]
fn parameter_formats() {
    assert_eq!(
        check(with("parameter_format", json!("POSITIONAL"))).unwrap().parameter_format,
        ParameterFormat::Positional
    );
    let mut absent = order_update();
    absent.as_object_mut().unwrap().remove("parameter_format");
    assert_eq!(check(absent).unwrap().parameter_format, ParameterFormat::Positional);
    assert_eq!(err(with("parameter_format", json!("numbered"))).0, "parameter_format");
    assert_eq!(ParameterFormat::parse("Named"), Some(ParameterFormat::Named));
    assert_eq!(ParameterFormat::Named.as_str(), "named");
    assert_eq!(ParameterFormat::parse("x"), None);
}

#[test]
fn ttl_ranges_per_category() {
    let cases = [
        ("utility", 30, true),
        ("utility", 43_200, true),
        ("utility", 29, false),
        ("utility", 43_201, false),
        ("marketing", 43_200, true),
        ("marketing", 2_592_000, true),
        ("marketing", 43_199, false),
        ("marketing", 2_592_001, false),
    ];
    for (category, ttl, ok) in cases {
        let mut v = with("category", json!(category));
        v["message_send_ttl_seconds"] = json!(ttl);
        match check(v) {
            Ok(_) => assert!(ok, "{category} {ttl} should be refused"),
            Err(e) => {
                assert!(!ok, "{category} {ttl} should pass: {e}");
                assert_eq!(e.field.as_deref(), Some("message_send_ttl_seconds"));
            }
        }
    }
    let otp = json!([{"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}]);
    for (ttl, ok) in [(30, true), (900, true), (29, false), (901, false)] {
        let mut v = auth(otp.clone());
        v["message_send_ttl_seconds"] = json!(ttl);
        assert_eq!(check(v).is_ok(), ok, "authentication {ttl}");
    }
}

#[test]
fn unknown_draft_fields_are_refused() {
    let mut v = order_update();
    v["allow_category_change"] = json!(true);
    assert!(serde_json::from_value::<TemplateDraft>(v).is_err());
}

#[test]
fn component_list() {
    let with_components = |c: Value| with("components", c);
    let body = json!({"type": "BODY", "text": "Your order shipped."});
    assert!(check(with_components(json!([body]))).is_ok());
    let (field, message) = err(with_components(json!([body, "FOOTER"])));
    assert_eq!((field.as_str(), message.as_str()), ("components", "component 2 is not an object"));
    assert_eq!(err(with_components(json!([body, {"text": "x"}]))).1, "component 2 has no type");
    let (field, message) = err(with_components(json!([body, {"type": "CAROUSEL"}])));
    assert_eq!(field, "components");
    assert!(message.contains("CAROUSEL"), "{message}");
    let (field, message) = err(with_components(json!([body, {"type": "body", "text": "Again."}])));
    assert_eq!(field, "components");
    assert!(message.contains("two BODY"), "{message}");
    let (field, message) = err(with_components(json!([{"type": "FOOTER", "text": "Shop"}])));
    assert_eq!((field.as_str(), message.as_str()), ("components.body", "the body is required"));
    assert_eq!(err(with_components(json!([]))).0, "components.body");
}

#[test]
fn components_in_any_order_and_case_are_normalised() {
    let components = json!([
        {"type": "buttons", "buttons": [{"type": "quick_reply", "text": "Stop"}]},
        {"type": "footer", "text": "Shop"},
        {"type": "body", "text": "Your order shipped."},
        {"type": "Header", "format": "image", "example": {"header_handle": ["4::aW1n"]}},
    ]);
    let t = check(with("components", components)).unwrap();
    let types: Vec<&str> = t.components.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["BUTTONS", "FOOTER", "BODY", "HEADER"], "order is kept");
    assert_eq!(t.components[0]["buttons"][0]["type"], "QUICK_REPLY");
    assert_eq!(t.components[3]["format"], "IMAGE");
}

#[test]
fn the_first_problem_is_reported_whatever_the_order() {
    let components = json!([
        {"type": "BUTTONS", "buttons": []},
        {"type": "BODY", "text": "{{1}} starts"},
    ]);
    assert_eq!(err(with("components", components)).0, "components.body");
    let mut v = with("components", json!([]));
    v["name"] = json!("Bad");
    assert_eq!(err(v).0, "name", "top-level fields come first");
}

#[test]
fn authentication_templates() {
    let good = auth(json!([
        {"type": "BODY", "add_security_recommendation": true},
        {"type": "FOOTER", "code_expiration_minutes": 10},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "copy_code", "text": "Copy code"}]},
    ]));
    let t = check(good).unwrap();
    assert_eq!(t.category, TemplateCategory::Authentication);
    assert_eq!(t.components[2]["buttons"][0]["otp_type"], "COPY_CODE");

    let no_body = check(auth(json!([{"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}])));
    assert_eq!(no_body.unwrap().components[0], json!({"type": "BODY"}), "a body is added");

    let header = auth(json!([
        {"type": "HEADER", "format": "TEXT", "text": "Code"},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ]));
    assert_eq!(err(header).0, "components.header");
    let location = auth(json!([
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ]));
    assert_eq!(err(location).0, "components.header");

    let text = auth(json!([
        {"type": "BODY", "text": "{{1}} is your code."},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ]));
    assert_eq!(err(text).0, "components.body");
    let flag = auth(json!([
        {"type": "BODY", "add_security_recommendation": "yes"},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ]));
    assert_eq!(err(flag).0, "components.body");

    let (field, message) = err(auth(json!([{"type": "BODY"}])));
    assert_eq!(field, "components.buttons");
    assert!(message.contains("OTP"), "{message}");

    let mut named = auth(json!([{"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}]));
    named["parameter_format"] = json!("named");
    assert_eq!(err(named).0, "parameter_format");
}

#[test]
fn create_body_shape() {
    let t = check(order_update()).unwrap();
    let body = t.create_body();
    assert_eq!(body["name"], "order_update");
    assert_eq!(body["language"], "pt_BR");
    assert_eq!(body["category"], "UTILITY");
    assert_eq!(body["parameter_format"], "positional");
    assert_eq!(body["message_send_ttl_seconds"], 3600);
    assert_eq!(body["components"], order_update()["components"]);
    assert_eq!(body.as_object().unwrap().len(), 6);

    let mut v = order_update();
    v.as_object_mut().unwrap().remove("message_send_ttl_seconds");
    v["category"] = json!("marketing");
    let body = check(v).unwrap().create_body();
    assert_eq!(body["category"], "MARKETING");
    assert!(body.get("message_send_ttl_seconds").is_none());
}

#[test]
fn edit_body_shape() {
    let body = check(order_update()).unwrap().edit_body();
    assert_eq!(
        body,
        json!({"category": "UTILITY", "components": order_update()["components"], "message_send_ttl_seconds": 3600})
    );
    let mut v = order_update();
    v.as_object_mut().unwrap().remove("message_send_ttl_seconds");
    let body = check(v).unwrap().edit_body();
    assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["category", "components"]);
}
