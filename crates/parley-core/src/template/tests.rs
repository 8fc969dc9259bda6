//! Tests of the template types and of `count_placeholders`; the submodules test their own parts.

use super::*;
use serde_json::json;

fn order_update() -> Vec<Value> {
    vec![
        json!({"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"}),
        json!({"type": "BODY", "text": "Hi {{1}}, order {{2}} is on its way."}),
        json!({"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Help"}, {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}"}]}),
    ]
}

#[test]
fn placeholders() {
    assert_eq!(count_placeholders("Hi {{1}}, order {{2}}"), 2);
    assert_eq!(count_placeholders("Hi {{first_name}}"), 1);
    assert_eq!(count_placeholders("no {{ end"), 0);
    assert_eq!(count_placeholders(""), 0);
}

#[test]
fn shape_of_components() {
    let shape = ParamShape::of_components(&order_update());
    assert_eq!(
        shape,
        ParamShape {
            header: 1,
            header_media: None,
            body: 2,
            buttons: vec![(1, 1)],
            button_kinds: vec![(0, "QUICK_REPLY".into()), (1, "URL".into())],
            ..ParamShape::default()
        }
    );
    let media = ParamShape::of_components(&[
        json!({"type": "HEADER", "format": "IMAGE"}),
        json!({"type": "BODY", "text": "Hi"}),
    ]);
    assert_eq!(media.header_media.as_deref(), Some("image"));
}

#[test]
fn checks_params() {
    let shape = ParamShape::of_components(&order_update());
    let good = [
        json!({"type": "header", "parameters": [{"type": "text", "text": "4411"}]}),
        json!({"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "4411"}]}),
        json!({"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "4411"}]}),
    ];
    assert_eq!(shape.check(&good), Ok(()));
    assert!(shape.check(&good[..2]).unwrap_err().contains("button 1"));
    assert!(shape.check(&good[1..]).unwrap_err().contains("header"));
    let mut extra = good.to_vec();
    extra[1]["parameters"].as_array_mut().unwrap().push(json!({"type": "text", "text": "x"}));
    assert!(shape.check(&extra).unwrap_err().contains("body takes 2"));
    let mut payload = good.to_vec();
    payload.push(json!({"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "P"}]}));
    assert_eq!(shape.check(&payload), Ok(()), "quick replies may carry a payload");
    let mut wrong_button = good.to_vec();
    wrong_button
        .push(json!({"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "P"}]}));
    assert!(shape.check(&wrong_button).unwrap_err().contains("button 0"));
}

#[test]
fn names_parse_in_any_case() {
    assert_eq!(TemplateStatus::parse("APPROVED"), Some(TemplateStatus::Approved));
    assert_eq!(TemplateStatus::parse("IN_APPEAL"), Some(TemplateStatus::InAppeal));
    assert_eq!(TemplateCategory::parse("MARKETING"), Some(TemplateCategory::Marketing));
    assert_eq!(TemplateCategory::parse("service"), None);
}
