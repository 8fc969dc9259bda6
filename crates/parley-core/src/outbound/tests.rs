use serde_json::{Value, json};

use super::*;

fn input(v: Value) -> SendInput {
    serde_json::from_value(v).unwrap()
}

fn field_of(v: Value) -> String {
    input(v).messages().unwrap_err().field.unwrap_or_default()
}

#[test]
fn text_and_attachments_become_messages_in_order() {
    let msgs = input(json!({"channel_id": 1, "to": "1", "type": "text", "text": {"body": "here are the photos", "preview_url": true},
        "attachments": [{"type": "image", "id": "M1", "caption": "front"}, {"type": "document", "link": "https://x.test/a.pdf", "filename": "a.pdf"}]}))
    .messages()
    .unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0].content, Content::Text { body: "here are the photos".into(), preview_url: Some(true) });
    assert_eq!(msgs[1].content.type_name(), "image");
    assert_eq!(msgs[2].content.media().unwrap().filename.as_deref(), Some("a.pdf"));
}

#[test]
fn reply_context_goes_on_the_first_message() {
    let msgs = input(json!({"channel_id": 1, "to": "1", "type": "text", "text": {"body": "yes"}, "context": {"message_id": "wamid.X"},
        "attachments": [{"type": "image", "id": "M1"}]}))
    .messages()
    .unwrap();
    assert_eq!((msgs[0].reply_to.as_deref(), msgs[1].reply_to.as_deref()), (Some("wamid.X"), None));
}

#[test]
fn limits_are_checked_with_the_field_named() {
    assert_eq!(field_of(json!({"channel_id": 1, "to": "1", "type": "text", "text": {"body": ""}})), "text.body");
    assert_eq!(
        field_of(json!({"channel_id": 1, "to": "1", "type": "text", "text": {"body": "x".repeat(4097)}})),
        "text.body"
    );
    assert!(
        input(json!({"channel_id": 1, "to": "1", "type": "text", "text": {"body": "é".repeat(4096)}}))
            .messages()
            .is_ok(),
        "characters, not bytes"
    );
    assert_eq!(
        field_of(
            json!({"channel_id": 1, "to": "1", "type": "image", "image": {"id": "1", "link": "https://x.test/i.png"}})
        ),
        "image"
    );
    assert_eq!(
        field_of(json!({"channel_id": 1, "to": "1", "type": "image", "image": {"link": "ftp://x"}})),
        "image.link"
    );
    assert_eq!(
        field_of(
            json!({"channel_id": 1, "to": "1", "type": "image", "image": {"id": "1", "caption": "c".repeat(1025)}})
        ),
        "image.caption"
    );
    assert_eq!(
        field_of(json!({"channel_id": 1, "to": "1", "type": "audio", "audio": {"id": "1", "caption": "no"}})),
        "audio.caption"
    );
    assert_eq!(
        field_of(json!({"channel_id": 1, "to": "1", "type": "location", "location": {"latitude": 91, "longitude": 0}})),
        "location.latitude"
    );
    assert_eq!(
        field_of(json!({"channel_id": 1, "to": "1", "type": "contacts", "contacts": [{"phones": []}]})),
        "contacts[0].name.formatted_name"
    );
    assert_eq!(
        field_of(
            json!({"channel_id": 1, "to": "1", "type": "template", "template": {"name": "Bad Name", "language": {"code": "en"}}})
        ),
        "template.name"
    );
    assert_eq!(field_of(json!({"channel_id": 1, "to": "1", "type": "video"})), "video");
    assert_eq!(field_of(json!({"channel_id": 1, "to": "1", "type": "fax"})), "type");
    assert_eq!(field_of(json!({"channel_id": 1, "to": "1"})), "type");
    assert_eq!(
        field_of(json!({"channel_id": 1, "to": "1", "attachments": [{"type": "location"}]})),
        "attachments[0].type"
    );
    assert!(
        serde_json::from_value::<SendInput>(json!({"channel_id": 1, "to": "1", "colour": "red"})).is_err(),
        "unknown fields are refused"
    );
}

fn buttons(n: usize, title_len: usize) -> Value {
    let buttons: Vec<Value> = (0..n).map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("{i}{}", "t".repeat(title_len - 1))}})).collect();
    json!({"channel_id": 1, "to": "1", "type": "interactive", "interactive": {"type": "button", "body": {"text": "Pick one"}, "action": {"buttons": buttons}}})
}

#[test]
fn interactive_buttons() {
    assert!(input(buttons(3, 20)).messages().is_ok());
    assert_eq!(field_of(buttons(4, 5)), "interactive.action.buttons");
    assert_eq!(field_of(buttons(0, 5)), "interactive.action.buttons");
    assert_eq!(field_of(buttons(1, 21)), "interactive.action.buttons[0].reply.title");
    let mut dup = buttons(2, 5);
    dup["interactive"]["action"]["buttons"][1]["reply"]["id"] = json!("b0");
    assert_eq!(field_of(dup), "interactive.action.buttons[1]");
}

#[test]
fn interactive_lists_and_cta() {
    let list = |rows: usize, sections: usize| {
        let sections: Vec<Value> = (0..sections)
            .map(|s| json!({"title": format!("S{s}"), "rows": (0..rows).map(|r| json!({"id": format!("{s}-{r}"), "title": "Row"})).collect::<Vec<_>>()}))
            .collect();
        json!({"channel_id": 1, "to": "1", "type": "interactive", "interactive": {"type": "list", "body": {"text": "Menu"}, "action": {"button": "See", "sections": sections}}})
    };
    assert!(input(list(5, 2)).messages().is_ok());
    assert_eq!(field_of(list(6, 2)), "interactive.action.sections", "at most 10 rows in all");
    let mut untitled = list(1, 2);
    untitled["interactive"]["action"]["sections"][1].as_object_mut().unwrap().remove("title");
    assert_eq!(field_of(untitled), "interactive.action.sections[1].title");
    let cta = json!({"channel_id": 1, "to": "1", "type": "interactive", "interactive": {"type": "cta_url", "body": {"text": "Track"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://x.test/t"}}}});
    assert!(input(cta.clone()).messages().is_ok());
    let mut bad_url = cta;
    bad_url["interactive"]["action"]["parameters"]["url"] = json!("x.test");
    assert_eq!(field_of(bad_url), "interactive.action.parameters.url");
}

#[test]
fn reactions_and_templates() {
    let r = input(
        json!({"channel_id": 1, "to": "1", "type": "reaction", "reaction": {"message_id": "wamid.A", "emoji": ""}}),
    )
    .messages()
    .unwrap();
    assert_eq!(r[0].content, Content::Reaction { message_id: "wamid.A".into(), emoji: None });
    let t = input(json!({"channel_id": 1, "to": "1", "type": "template", "template": {"name": "order_update", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}}))
    .messages()
    .unwrap();
    assert_eq!(t[0].template(), Some(("order_update", "pt_BR")));
}
