use serde_json::json;

use super::paths::{offers_contact, paths_without_a_person};
use super::*;

/// The seed's template: a closed conversation loses its assignee.
fn unassign_after_close() -> Value {
    json!({"trigger": {"kind": "conversation_closed"}, "steps": [{"id": "unassign", "kind": "unassign"}]})
}

fn welcome() -> Value {
    json!({
        "trigger": {"kind": "conversation_opened", "by": "contact"},
        "steps": [
            {"id": "vip", "kind": "branch", "rules": [
                {"when": [{"subject": "contact.tags", "op": "contains", "value": "VIP"}], "next": "to-team"}],
             "otherwise": "hello"},
            {"id": "hello", "kind": "send_message", "text": "Hello! We answer within the hour.", "next": "wait"},
            {"id": "wait", "kind": "wait", "seconds": 3600, "next": "again"},
            {"id": "again", "kind": "jump", "to": "hello", "max_times": 2},
            {"id": "to-team", "kind": "assign", "to": {"team_id": 3}}
        ]
    })
}

#[test]
fn definitions_read_strictly_and_round_trip() {
    let d = parse(&unassign_after_close()).unwrap();
    assert_eq!(d.trigger, Trigger::ConversationClosed);
    assert_eq!(serde_json::to_value(&d).unwrap(), unassign_after_close());
    assert!(validate(&d).is_empty());
    let w = parse(&welcome()).unwrap();
    assert!(validate(&w).is_empty(), "{:?}", validate(&w));
    assert_eq!(w.steps[4].action, Action::Assign { to: AssignTo::Team { team_id: 3 } });

    // A typo is refused, with the step named.
    let typo = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "add_note", "txt": "x"}]});
    assert!(parse(&typo).is_err());
    let extra = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "unassign", "tags": ["x"]}]});
    let problems = parse(&extra).unwrap_err();
    assert_eq!(problems[0].step.as_deref(), Some("a"), "{problems:?}");
    assert!(parse(&json!({"trigger": {"kind": "sometimes"}, "steps": []})).is_err());
    assert!(parse(&json!({"trigger": {"kind": "manual", "x": 1}, "steps": []})).is_err());
}

fn problems_of(v: Value) -> Vec<Problem> {
    validate(&parse(&v).unwrap())
}

#[test]
fn validation_names_the_step_at_fault() {
    let step = |s: Value| json!({"trigger": {"kind": "manual"}, "steps": [s]});
    assert!(!problems_of(json!({"trigger": {"kind": "manual"}, "steps": []})).is_empty());
    for bad in [
        json!({"id": "A B", "kind": "unassign"}),
        json!({"id": "a", "kind": "unassign", "next": "nowhere"}),
        json!({"id": "a", "kind": "send_message", "text": "  "}),
        json!({"id": "a", "kind": "wait", "seconds": 0}),
        json!({"id": "a", "kind": "wait", "seconds": MAX_WAIT_SECS + 1}),
        json!({"id": "a", "kind": "add_tags", "tags": []}),
        json!({"id": "a", "kind": "branch", "rules": []}),
        json!({"id": "a", "kind": "branch", "rules": [{"when": [{"subject": "contact.shoe", "op": "exists"}], "next": "a"}]}),
        json!({"id": "a", "kind": "branch", "rules": [{"when": [{"subject": "message.text", "op": "contains"}], "next": "a"}]}),
        json!({"id": "a", "kind": "jump", "to": "a", "max_times": 0}),
        json!({"id": "a", "kind": "send_message", "text": "x", "template": {"name": "", "language": "en"}}),
        json!({"id": "a", "kind": "set_field", "field": "", "value": "x"}),
        json!({"id": "a", "kind": "set_field", "field": "plan", "value": "x".repeat(1025)}),
    ] {
        let problems = problems_of(step(bad.clone()));
        assert!(!problems.is_empty(), "{bad}");
        assert!(problems.iter().all(|p| p.step.is_some()), "{bad}: {problems:?}");
    }
    let two = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "unassign"}, {"id": "a", "kind": "reopen"}]});
    assert_eq!(problems_of(two)[0].message, "two steps have this id");
    let tag = json!({"trigger": {"kind": "tag_added", "tag": " "}, "steps": [{"id": "a", "kind": "unassign"}]});
    assert_eq!(problems_of(tag).len(), 1);
    // A new contact has no conversation to act on.
    let contact =
        json!({"trigger": {"kind": "contact_created"}, "steps": [{"id": "a", "kind": "add_note", "text": "x"}]});
    assert_eq!(problems_of(contact)[0].step.as_deref(), Some("a"));
    // Whom to assign to is one of the two.
    let both = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "assign", "to": {"user_id": 1, "team_id": 2}}]});
    assert!(parse(&both).is_err());
}

#[test]
fn a_loop_needs_a_jump_step() {
    let spin = json!({"trigger": {"kind": "manual"}, "steps": [
        {"id": "a", "kind": "add_note", "text": "x", "next": "b"},
        {"id": "b", "kind": "wait", "seconds": 5, "next": "a"}]});
    let problems = problems_of(spin);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("loop"));
    // Through a jump it is bounded: allowed.
    assert!(problems_of(welcome()).is_empty());
}

#[test]
fn conditions_compare_without_case_and_lists_by_item() {
    let facts = Facts {
        message_text: Some("Where is my ORDER?".into()),
        contact_tags: vec!["vip".into()],
        contact_fields: [("plan".to_owned(), "Gold".to_owned())].into(),
        conversation_tags: vec![],
        channel_id: Some(7),
        memory: serde_json::json!({"answers": {"ask": "Support"}}),
    };
    let c = |subject: &str, op: Op, value: Option<&str>| Condition {
        subject: subject.into(),
        op,
        value: value.map(str::to_owned),
    };
    assert!(holds(&c("message.text", Op::Contains, Some("order")), &facts));
    assert!(!holds(&c("message.text", Op::Equals, Some("order")), &facts));
    assert!(holds(&c("contact.tags", Op::Contains, Some("VIP")), &facts));
    assert!(!holds(&c("contact.tags", Op::Contains, Some("vi")), &facts), "a tag is an item, not a text");
    assert!(holds(&c("contact.fields.plan", Op::Equals, Some("gold")), &facts));
    assert!(holds(&c("contact.fields.city", Op::NotExists, None), &facts));
    assert!(holds(&c("conversation.tags", Op::NotContains, Some("x")), &facts));
    assert!(holds(&c("conversation.channel_id", Op::Equals, Some("7")), &facts));
    assert!(holds(&c("contact.fields.plan", Op::NotEquals, Some("silver")), &facts));
}

#[test]
fn a_condition_on_the_number_keeps_a_workflow_to_it() {
    let mut v = unassign_after_close();
    let d = parse(&v).unwrap();
    assert!(!d.kept_to_another_channel(7));
    v["conditions"] = json!([{"subject": "conversation.channel_id", "op": "equals", "value": "7"}]);
    let d = parse(&v).unwrap();
    assert!(!d.kept_to_another_channel(7) && d.kept_to_another_channel(8));
}

#[test]
fn the_next_step_follows_branches_and_bounded_jumps() {
    let d = parse(&welcome()).unwrap();
    let vip = Facts { contact_tags: vec!["vip".into()], ..Facts::default() };
    assert_eq!(next_after(&d.steps[0], &vip, 0).as_deref(), Some("to-team"));
    assert_eq!(next_after(&d.steps[0], &Facts::default(), 0).as_deref(), Some("hello"));
    assert_eq!(next_after(&d.steps[1], &Facts::default(), 0).as_deref(), Some("wait"));
    assert_eq!(next_after(&d.steps[3], &Facts::default(), 1).as_deref(), Some("hello"));
    assert_eq!(next_after(&d.steps[3], &Facts::default(), 2), None, "jumped twice: the run ends");
    assert_eq!(next_after(&d.steps[4], &Facts::default(), 0), None);
}

#[test]
fn triggers_fire_on_their_happenings_only() {
    let opened = Trigger::ConversationOpened { by: Some(OpenedBy::Contact) };
    assert!(opened.fires_on(&Happening::ConversationOpened { by: OpenedBy::Contact }));
    assert!(!opened.fires_on(&Happening::ConversationOpened { by: OpenedBy::Person }));
    assert!(Trigger::ConversationOpened { by: None }.fires_on(&Happening::ConversationOpened { by: OpenedBy::Person }));
    assert!(Trigger::ConversationClosed.fires_on(&Happening::ConversationClosed));
    assert!(!Trigger::ConversationClosed.fires_on(&Happening::AssignmentChanged));
    let keyword = Trigger::MessageReceived { keywords: vec!["price".into()], pattern: None, first_only: false };
    let said = |t: &str, first: bool| Happening::MessageReceived { text: Some(t.into()), first };
    assert!(keyword.fires_on(&said("What's the PRICE?", false)));
    assert!(!keyword.fires_on(&said("priceless", false)));
    let first = Trigger::MessageReceived { keywords: vec![], pattern: None, first_only: true };
    assert!(first.fires_on(&said("hi", true)) && !first.fires_on(&said("hi", false)));
    let tag = Trigger::TagAdded { tag: "VIP".into() };
    assert!(tag.fires_on(&Happening::TagAdded { tag: "vip".into() }));
    assert!(!tag.fires_on(&Happening::TagRemoved { tag: "vip".into() }));
    assert!(!Trigger::Manual.fires_on(&Happening::ContactCreated));
}

#[test]
fn paths_that_reply_must_reach_a_person() {
    let none = |_: i64| false;
    // The welcome's VIP path assigns to a team; its other path only replies.
    let d = parse(&welcome()).unwrap();
    let missing = paths_without_a_person(&d, &none);
    assert_eq!(missing, vec![vec!["vip", "hello", "wait", "again"]]);
    // Giving a phone number in the reply is a way to a person.
    let mut with_phone = welcome();
    with_phone["steps"][1]["text"] = json!("Hello! Call us on +33 1 23 45 67 89.");
    assert!(paths_without_a_person(&parse(&with_phone).unwrap(), &none).is_empty());
    // Assigning to a bot is not.
    let to_bot = json!({"trigger": {"kind": "manual"}, "steps": [
        {"id": "hi", "kind": "send_message", "text": "Hi", "next": "bot"},
        {"id": "bot", "kind": "assign", "to": {"user_id": 9}}]});
    let d = parse(&to_bot).unwrap();
    assert_eq!(paths_without_a_person(&d, &|id| id == 9).len(), 1);
    assert!(paths_without_a_person(&d, &|_| false).is_empty());
    // A workflow that never replies needs no way to a person.
    assert!(paths_without_a_person(&parse(&unassign_after_close()).unwrap(), &none).is_empty());
}

#[test]
fn contact_ways_are_recognised_in_text() {
    assert!(offers_contact("Write to help@acme.example"));
    assert!(offers_contact("See https://acme.example/help"));
    assert!(offers_contact("Call 0612345678"));
    assert!(offers_contact("Call (555) 123-4567"));
    assert!(!offers_contact("Order 12345 shipped"));
    assert!(!offers_contact("at @acme"));
}

#[test]
fn patterns_and_the_last_outcome_are_tested() {
    let trigger: Trigger =
        serde_json::from_value(json!({"kind": "message_received", "pattern": "^order\\s*#?\\d+", "first_only": false}))
            .unwrap();
    let said = |t: &str| Happening::MessageReceived { text: Some(t.into()), first: false };
    assert!(trigger.fires_on(&said("Order #12 please")));
    assert!(!trigger.fires_on(&said("my order 12")));
    assert!(triggers::regex_of("(unclosed").is_err());
    assert!(triggers::regex_of(&"a".repeat(501)).is_err());
    let facts = Facts { memory: json!({"last": {"step": "ask", "outcome": "timed_out"}}), ..Facts::default() };
    let c = Condition { subject: "last.outcome".into(), op: Op::Equals, value: Some("timed_out".into()) };
    assert!(holds(&c, &facts));
    let mut problems = Vec::new();
    check_condition(None, &c, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
}
