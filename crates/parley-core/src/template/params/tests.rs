//! Tests of contact references in send parameters: each key, fallbacks, missing values, unknown
//! keys, and which parameters are looked at.

use serde_json::{Map, Value, json};

use super::*;
use crate::email::Email;
use crate::ids::{ContactId, WorkspaceId};
use crate::phone::E164;
use crate::time::Timestamp;

fn contact(name: Option<&str>, fields: Value) -> Contact {
    let fields: Map<String, Value> = serde_json::from_value(fields).unwrap();
    Contact {
        id: ContactId(1),
        workspace_id: WorkspaceId(1),
        name: name.map(str::to_owned),
        phone: Some(E164::parse("+33612345678").unwrap()),
        email: Some(Email::parse("ana@example.com").unwrap()),
        invalid_phone: None,
        invalid_email: None,
        fields,
        tags: vec![],
        created_at: Timestamp::from_secs(0),
        updated_at: Timestamp::from_secs(0),
    }
}

fn ana() -> Contact {
    contact(Some("Ana Maria  Silva"), json!({"plan": "gold", "visits": 12, "ratio": 1.5, "vip": true, "notes": null}))
}

fn bare() -> Contact {
    let mut c = contact(None, json!({}));
    c.phone = None;
    c.email = None;
    c
}

fn body(texts: &[&str]) -> Vec<Value> {
    let params: Vec<Value> = texts.iter().map(|t| json!({"type": "text", "text": t})).collect();
    vec![json!({"type": "body", "parameters": params})]
}

fn filled(texts: &[&str], c: &Contact) -> Result<Vec<String>, String> {
    let mut components = body(texts);
    fill_contact_params(&mut components, c)?;
    Ok(components[0]["parameters"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap().to_owned()).collect())
}

#[test]
fn name_keys() {
    assert_eq!(contact_value(&ana(), "name").as_deref(), Some("Ana Maria  Silva"));
    assert_eq!(contact_value(&ana(), "first_name").as_deref(), Some("Ana"));
    assert_eq!(contact_value(&ana(), "last_name").as_deref(), Some("Maria  Silva"));
    let single = contact(Some(" Ana "), json!({}));
    assert_eq!(contact_value(&single, "name").as_deref(), Some("Ana"));
    assert_eq!(contact_value(&single, "first_name").as_deref(), Some("Ana"));
    assert_eq!(contact_value(&single, "last_name"), None);
    assert_eq!(contact_value(&bare(), "name"), None);
    assert_eq!(contact_value(&bare(), "first_name"), None);
    assert_eq!(contact_value(&contact(Some("  "), json!({})), "name"), None);
}

#[test]
fn name_fields_win_over_the_name() {
    let c = contact(Some("Ana Maria Silva"), json!({"first_name": "Aninha", "last_name": "Souza"}));
    assert_eq!(contact_value(&c, "first_name").as_deref(), Some("Aninha"));
    assert_eq!(contact_value(&c, "last_name").as_deref(), Some("Souza"));
    let blank = contact(Some("Ana Silva"), json!({"first_name": " ", "last_name": null}));
    assert_eq!(contact_value(&blank, "first_name").as_deref(), Some("Ana"), "a blank field is not set");
    assert_eq!(contact_value(&blank, "last_name").as_deref(), Some("Silva"));
}

#[test]
fn phone_and_email() {
    assert_eq!(contact_value(&ana(), "phone").as_deref(), Some("+33612345678"));
    assert_eq!(contact_value(&ana(), "email").as_deref(), Some("ana@example.com"));
    assert_eq!(contact_value(&bare(), "phone"), None);
    assert_eq!(contact_value(&bare(), "email"), None);
}

#[test]
fn custom_fields() {
    assert_eq!(contact_value(&ana(), "fields.plan").as_deref(), Some("gold"));
    assert_eq!(contact_value(&ana(), "fields.visits").as_deref(), Some("12"));
    assert_eq!(contact_value(&ana(), "fields.ratio").as_deref(), Some("1.5"));
    assert_eq!(contact_value(&ana(), "fields.vip").as_deref(), Some("true"));
    assert_eq!(contact_value(&ana(), "fields.notes"), None);
    assert_eq!(contact_value(&ana(), "fields.missing"), None);
    assert_eq!(contact_value(&ana(), "nickname"), None);
    assert_eq!(contact_value(&ana(), "plan"), None, "custom fields need the fields. prefix");
}

#[test]
fn references_are_replaced() {
    let texts = ["{{contact.first_name}}", "{{ contact.fields.plan }}", " {{contact.phone}} ", "4411"];
    assert_eq!(filled(&texts, &ana()).unwrap(), ["Ana", "gold", "+33612345678", "4411"]);
}

#[test]
fn fallbacks() {
    assert_eq!(filled(&["{{contact.first_name|there}}"], &bare()).unwrap(), ["there"]);
    assert_eq!(filled(&["{{ contact.first_name | my friend }}"], &bare()).unwrap(), ["my friend"]);
    assert_eq!(filled(&["{{contact.first_name|there}}"], &ana()).unwrap(), ["Ana"], "the value wins");
    assert_eq!(filled(&["{{contact.fields.plan|free}}"], &bare()).unwrap(), ["free"]);
}

#[test]
fn missing_values_without_fallback() {
    let e = filled(&["4411", "{{contact.email}}"], &bare()).unwrap_err();
    assert!(e.starts_with("body parameter 2: the contact has no email"), "{e}");
    let e = filled(&["{{contact.first_name| }}"], &bare()).unwrap_err();
    assert!(e.contains("no first_name"), "an empty fallback is no fallback: {e}");
}

#[test]
fn unknown_keys() {
    let e = filled(&["{{contact.nickname|friend}}"], &ana()).unwrap_err();
    assert!(e.starts_with("body parameter 1: \"nickname\" is not a contact field"), "{e}");
    assert!(filled(&["{{contact.fields.}}"], &ana()).unwrap_err().contains("not a contact field"));
}

#[test]
fn only_whole_text_references_in_text_parameters() {
    assert_eq!(
        filled(&["Hi {{contact.name}}", "{{customer.name}}", "{{contact.name"], &ana()).unwrap(),
        ["Hi {{contact.name}}", "{{customer.name}}", "{{contact.name"]
    );
    let mut components = vec![
        json!({"type": "header", "parameters": [{"type": "text", "text": "{{contact.first_name}}"}]}),
        json!({"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "{{contact.fields.plan}}"}]}),
        json!({"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "{{contact.name}}"}]}),
        json!({"type": "carousel", "parameters": [{"type": "text", "text": "{{contact.name}}"}]}),
    ];
    let before = components.clone();
    fill_contact_params(&mut components, &ana()).unwrap();
    assert_eq!(components[0]["parameters"][0]["text"], "Ana");
    assert_eq!(components[1]["parameters"][0]["text"], "gold");
    assert_eq!(components[2], before[2], "payloads are sent as written");
    assert_eq!(components[3], before[3], "only header, body and buttons");
}

#[test]
fn button_errors_name_the_button() {
    let mut components = vec![json!({"type": "button", "sub_type": "url", "index": "1",
        "parameters": [{"type": "text", "text": "{{contact.fields.missing}}"}]})];
    let e = fill_contact_params(&mut components, &ana()).unwrap_err();
    assert!(e.starts_with("button 1 parameter 1: the contact has no fields.missing"), "{e}");
}

#[test]
fn detects_contact_params() {
    assert!(uses_contact_params(&body(&["4411", "{{ contact.name }}"])));
    assert!(uses_contact_params(&body(&["{{contact.nickname}}"])), "unknown keys still need filling (and fail)");
    assert!(!uses_contact_params(&body(&["4411", "Hi {{contact.name}}"])));
    let payload = [json!({"type": "button", "sub_type": "quick_reply", "index": 0,
        "parameters": [{"type": "payload", "payload": "{{contact.name}}"}]})];
    assert!(!uses_contact_params(&payload));
    assert!(!uses_contact_params(&[]));
}
