//! Tests of the send-side shape: named parameters, parameter types, button sub-types, and
//! authentication templates both as we create them and as Meta lists them.

use serde_json::{Value, json};

use crate::template::{ParamShape, TemplateDraft};

fn shape(components: Value) -> ParamShape {
    ParamShape::of_components(components.as_array().unwrap())
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn named(name: &str, t: &str) -> Value {
    json!({"type": "text", "parameter_name": name, "text": t})
}

fn body(params: Value) -> Value {
    json!({"type": "body", "parameters": params})
}

fn check(s: &ParamShape, components: Value) -> Result<(), String> {
    s.check(components.as_array().unwrap())
}

#[test]
fn named_placeholders_are_recorded() {
    let s = shape(json!([
        {"type": "HEADER", "format": "TEXT", "text": "Order {{order_id}}"},
        {"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready, {{first_name}}."},
    ]));
    assert_eq!(s.header, 1);
    assert_eq!(s.header_names, ["order_id"]);
    assert_eq!(s.body, 2, "a repeated name is one parameter");
    assert_eq!(s.body_names, ["first_name", "order_id"]);
    let positional = shape(json!([{"type": "BODY", "text": "Hi {{1}}, order {{2}}."}]));
    assert!(positional.body_names.is_empty());
}

#[test]
fn named_sends_name_every_parameter() {
    let s = shape(json!([{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready."}]));
    let good = json!([body(json!([named("order_id", "4411"), named("first_name", "Ana")]))]);
    assert_eq!(check(&s, good), Ok(()), "order is free");
    let unnamed = check(&s, json!([body(json!([text("Ana"), named("order_id", "1")]))])).unwrap_err();
    assert!(unnamed.contains("body parameter 1 has no parameter_name"), "{unnamed}");
    let unknown = check(&s, json!([body(json!([named("first_name", "Ana"), named("city", "Porto")]))])).unwrap_err();
    assert!(unknown.contains("`city` is not one of"), "{unknown}");
    let twice = check(&s, json!([body(json!([named("first_name", "Ana"), named("first_name", "Bo")]))])).unwrap_err();
    assert!(twice.contains("given twice"), "{twice}");
    let short = check(&s, json!([body(json!([named("first_name", "Ana")]))])).unwrap_err();
    assert!(short.contains("the body takes 2 parameter(s), 1 given"), "{short}");
}

#[test]
fn named_headers() {
    let s = shape(
        json!([{"type": "HEADER", "format": "TEXT", "text": "Order {{order_id}}"}, {"type": "BODY", "text": "Hi"}]),
    );
    let good = json!([{"type": "header", "parameters": [named("order_id", "4411")]}]);
    assert_eq!(check(&s, good), Ok(()));
    let bad = check(&s, json!([{"type": "header", "parameters": [named("order", "4411")]}])).unwrap_err();
    assert!(bad.starts_with("header parameter `order`"), "{bad}");
}

#[test]
fn positional_sends_give_no_names() {
    let s = shape(json!([{"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready."}]));
    assert_eq!(check(&s, json!([body(json!([text("Ana"), text("4411")]))])), Ok(()));
    let e = check(&s, json!([body(json!([text("Ana"), named("order_id", "4411")]))])).unwrap_err();
    assert!(e.contains("body parameter 2 has a parameter_name"), "{e}");
}

#[test]
fn header_and_body_values_are_text_currency_or_date_time() {
    let s = shape(
        json!([{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"}, {"type": "BODY", "text": "Pay {{1}} by {{2}} please."}]),
    );
    let good = json!([
        {"type": "header", "parameters": [text("4411")]},
        body(json!([
            {"type": "currency", "currency": {"fallback_value": "R$ 99,90", "code": "BRL", "amount_1000": 99900}},
            {"type": "date_time", "date_time": {"fallback_value": "12 de março"}},
        ])),
    ]);
    assert_eq!(check(&s, good), Ok(()));
    let image = json!([
        {"type": "header", "parameters": [text("4411")]},
        body(json!([text("x"), {"type": "image", "image": {"id": "1"}}])),
    ]);
    assert_eq!(check(&s, image), Err("body parameter 2 is `image`, expected text, currency or date_time".into()));
    let header = json!([{"type": "header", "parameters": [{"type": "payload", "payload": "x"}]}, body(json!([text("a"), text("b")]))]);
    assert!(check(&s, header).unwrap_err().starts_with("header parameter 1 is `payload`"));
}

#[test]
fn media_headers_take_their_own_type() {
    for format in ["IMAGE", "VIDEO", "DOCUMENT", "LOCATION"] {
        let s = shape(json!([{"type": "HEADER", "format": format}, {"type": "BODY", "text": "Hi"}]));
        let kind = format.to_ascii_lowercase();
        let good = json!([{"type": "header", "parameters": [{"type": kind, kind.clone(): {"id": "1"}}]}]);
        assert_eq!(check(&s, good), Ok(()), "{format}");
        let e = check(&s, json!([{"type": "header", "parameters": [text("x")]}])).unwrap_err();
        assert_eq!(e, format!("header parameter 1 is `text`, expected {kind}"));
        let two = json!([{"type": "header", "parameters": [{"type": kind}, {"type": kind}]}]);
        assert!(check(&s, two).unwrap_err().contains("takes 1 parameter"));
    }
}

fn buttons() -> ParamShape {
    shape(json!([
        {"type": "BODY", "text": "Hi"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Help"},
            {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}"},
            {"type": "COPY_CODE", "example": "SALE"},
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+5511900000000"},
            {"type": "FLOW", "text": "Book", "flow_id": "1"},
        ]},
    ]))
}

fn button(sub_type: &str, index: usize, params: Value) -> Value {
    json!({"type": "button", "sub_type": sub_type, "index": index.to_string(), "parameters": params})
}

fn required_buttons() -> Vec<Value> {
    vec![
        button("url", 1, json!([text("4411")])),
        button("copy_code", 2, json!([{"type": "coupon_code", "coupon_code": "SALE25"}])),
    ]
}

#[test]
fn button_parameter_types() {
    let s = buttons();
    assert_eq!(s.check(&required_buttons()), Ok(()));
    let mut payload = required_buttons();
    payload.push(button("quick_reply", 0, json!([{"type": "payload", "payload": "HELP"}])));
    payload.push(button("flow", 4, json!([{"type": "action", "action": {"flow_token": "T"}}])));
    assert_eq!(s.check(&payload), Ok(()), "payloads and flow actions are optional");

    let mut url = required_buttons();
    url[0] = button("url", 1, json!([{"type": "payload", "payload": "4411"}]));
    assert_eq!(s.check(&url), Err("button 1 parameter 1 is `payload`, expected text".into()));
    let mut coupon = required_buttons();
    coupon[1] = button("copy_code", 2, json!([text("SALE25")]));
    assert_eq!(s.check(&coupon), Err("button 2 parameter 1 is `text`, expected coupon_code".into()));
    let mut quick = required_buttons();
    quick.push(button("quick_reply", 0, json!([text("HELP")])));
    assert_eq!(s.check(&quick), Err("button 0 parameter 1 is `text`, expected payload".into()));
    let mut two_payloads = required_buttons();
    two_payloads.push(button("quick_reply", 0, json!([{"type": "payload"}, {"type": "payload"}])));
    assert!(s.check(&two_payloads).unwrap_err().contains("at most 1"));
    let mut phone = required_buttons();
    phone.push(button("voice_call", 3, json!([text("x")])));
    assert_eq!(s.check(&phone), Err("button 3 takes no parameters".into()), "a phone button takes nothing");
    let mut phone_params = required_buttons();
    phone_params.push(json!({"type": "button", "index": 3, "parameters": [text("x")]}));
    assert_eq!(s.check(&phone_params), Err("button 3 takes no parameters".into()));
}

#[test]
fn button_sub_types_match_the_template() {
    let s = buttons();
    let mut wrong = required_buttons();
    wrong[0] = button("quick_reply", 1, json!([text("4411")]));
    assert_eq!(s.check(&wrong), Err("button 1 is a URL button, sent with sub_type quick_reply".into()));
    let mut upper = required_buttons();
    upper[0]["sub_type"] = json!("URL");
    assert_eq!(s.check(&upper), Ok(()), "sub_type in any case");
    let mut missing = required_buttons();
    missing.pop();
    assert_eq!(s.check(&missing), Err("button 2 takes 1 parameter(s), 0 given".into()));
    let mut beyond = required_buttons();
    beyond.push(button("url", 7, json!([text("x")])));
    assert_eq!(s.check(&beyond), Err("button 7 takes no parameters".into()));
}

fn auth_send(code: &str) -> Value {
    json!([
        body(json!([text(code)])),
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [text(code)]},
    ])
}

#[test]
fn authentication_templates_as_we_create_them() {
    let draft: TemplateDraft = serde_json::from_value(json!({
        "name": "login_code", "language": "en", "category": "AUTHENTICATION",
        "components": [
            {"type": "BODY", "add_security_recommendation": true},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
        ]
    }))
    .unwrap();
    let s = ParamShape::of_components(&draft.validate().unwrap().components);
    assert_eq!((s.body, s.buttons.clone()), (1, vec![(0, 1)]));
    assert_eq!(check(&s, auth_send("482913")), Ok(()));
    assert!(check(&s, json!([body(json!([text("482913")]))])).unwrap_err().contains("button 0"));
    assert!(check(&s, json!([{"type": "button", "sub_type": "url", "index": 0, "parameters": [text("1")]}])).is_err());
}

#[test]
fn authentication_templates_as_meta_lists_them() {
    let s = shape(json!([
        {"type": "BODY", "text": "*{{1}}* is your verification code. For your security, do not share this code."},
        {"type": "FOOTER", "text": "This code expires in 10 minutes."},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Copy code",
            "url": "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code_expiration_minutes=10&code=otp{{1}}"}]},
    ]));
    assert_eq!(check(&s, auth_send("482913")), Ok(()));
    let listed_as_otp = shape(json!([
        {"type": "BODY", "text": "{{1}} is your verification code."},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
    ]));
    assert_eq!(check(&listed_as_otp, auth_send("482913")), Ok(()));
    let mut coupon = auth_send("1");
    coupon[1]["parameters"] = json!([{"type": "coupon_code", "coupon_code": "1"}]);
    assert!(check(&listed_as_otp, coupon).unwrap_err().contains("expected text"));
}

#[test]
fn every_text_parameter_needs_a_value() {
    let s = shape(json!([{"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready."}]));
    for blank in ["", "   ", "\n"] {
        let e = check(&s, json!([body(json!([text("Ana"), text(blank)]))])).unwrap_err();
        assert!(e.contains("body parameter 2 is empty"), "{blank:?}: {e}");
    }
    let missing = check(&s, json!([body(json!([text("Ana"), {"type": "text"}]))])).unwrap_err();
    assert!(missing.contains("is empty"), "{missing}");
    let named_blank = shape(json!([{"type": "BODY", "text": "Hi {{first_name}}"}]));
    assert!(check(&named_blank, json!([body(json!([named("first_name", " ")]))])).is_err());
}
