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
    assert_eq!(problems[0].code, "step_unknown_field");
    assert_eq!(Value::Object(problems[0].params.clone()), json!({"kind": "unassign", "field": "tags"}));
    assert!(parse(&json!({"trigger": {"kind": "sometimes"}, "steps": []})).is_err());
    assert!(parse(&json!({"trigger": {"kind": "manual", "x": 1}, "steps": []})).is_err());
}

fn problems_of(v: Value) -> Vec<Problem> {
    validate(&parse(&v).unwrap())
}

/// A definition's problems, whether it does not read or does not validate.
fn all_problems_of(v: &Value) -> Vec<Problem> {
    match parse(v) {
        Ok(d) => validate(&d),
        Err(problems) => problems,
    }
}

fn codes_of(v: &Value) -> Vec<&'static str> {
    all_problems_of(v).iter().map(|p| p.code).collect()
}

#[test]
fn validation_names_the_step_at_fault() {
    let step = |s: Value| json!({"trigger": {"kind": "manual"}, "steps": [s]});
    let empty = problems_of(json!({"trigger": {"kind": "manual"}, "steps": []}));
    assert_eq!((empty[0].step.as_deref(), empty[0].code), (None, "steps_count"));
    assert_eq!(empty[0].params["max"], MAX_STEPS);
    for (bad, code) in [
        (json!({"id": "A B", "kind": "unassign"}), "step_id"),
        (json!({"id": "a", "kind": "unassign", "next": "nowhere"}), "unknown_target"),
        (json!({"id": "a", "kind": "send_message", "text": "  "}), "text_length"),
        (json!({"id": "a", "kind": "wait", "seconds": 0}), "wait_duration"),
        (json!({"id": "a", "kind": "wait", "seconds": MAX_WAIT_SECS + 1}), "wait_duration"),
        (json!({"id": "a", "kind": "add_tags", "tags": []}), "tags"),
        (json!({"id": "a", "kind": "branch", "rules": []}), "branch_rules"),
        (
            json!({"id": "a", "kind": "branch", "rules": [{"when": [{"subject": "contact.shoe", "op": "exists"}], "next": "a"}]}),
            "condition_subject",
        ),
        (
            json!({"id": "a", "kind": "branch", "rules": [{"when": [{"subject": "message.text", "op": "contains"}], "next": "a"}]}),
            "condition_value",
        ),
        (json!({"id": "a", "kind": "jump", "to": "a", "max_times": 0}), "jump_times"),
        (
            json!({"id": "a", "kind": "send_message", "text": "x", "template": {"name": "", "language": "en"}}),
            "template_name_language",
        ),
        (json!({"id": "a", "kind": "set_field", "field": "", "value": "x"}), "field_name"),
        (json!({"id": "a", "kind": "set_field", "field": "plan", "value": "x".repeat(1025)}), "field_value_length"),
    ] {
        let problems = problems_of(step(bad.clone()));
        assert_eq!(problems.iter().map(|p| p.code).collect::<Vec<_>>(), [code], "{bad}: {problems:?}");
        assert!(problems.iter().all(|p| p.step.is_some()), "{bad}: {problems:?}");
    }
    // The values a message names travel with it.
    let nowhere = problems_of(step(json!({"id": "a", "kind": "unassign", "next": "nowhere"})));
    assert_eq!(
        serde_json::to_value(&nowhere[0]).unwrap(),
        json!({"step": "a", "code": "unknown_target", "params": {"target": "nowhere"},
               "message": "leads to \"nowhere\", which is not a step"})
    );
    let shoe = json!({"id": "a", "kind": "branch", "rules": [{"when": [{"subject": "contact.shoe", "op": "exists"}], "next": "a"}]});
    assert_eq!(problems_of(step(shoe))[0].params["subject"], "contact.shoe");
    let jump = problems_of(step(json!({"id": "a", "kind": "jump", "to": "a", "max_times": 0})));
    assert_eq!(jump[0].params["max"], MAX_JUMPS);
    let two = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "unassign"}, {"id": "a", "kind": "reopen"}]});
    let problems = problems_of(two);
    assert_eq!((problems[0].code, problems[0].message.as_str()), ("duplicate_step_id", "two steps have this id"));
    // Without values, no params; without a step, no step.
    assert_eq!(
        serde_json::to_value(&problems[0]).unwrap(),
        json!({"step": "a", "code": "duplicate_step_id", "message": "two steps have this id"})
    );
    let tag = json!({"trigger": {"kind": "tag_added", "tag": " "}, "steps": [{"id": "a", "kind": "unassign"}]});
    let problems = problems_of(tag);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        serde_json::to_value(&problems[0]).unwrap(),
        json!({"code": "trigger_tag", "params": {"max": 64}, "message": "the trigger's tag is 1 to 64 characters"})
    );
    // A new contact has no conversation to act on.
    let contact =
        json!({"trigger": {"kind": "contact_created"}, "steps": [{"id": "a", "kind": "add_note", "text": "x"}]});
    let problems = problems_of(contact);
    assert_eq!((problems[0].step.as_deref(), problems[0].code), (Some("a"), "needs_conversation"));
    // Whom to assign to is one of the two.
    let both = json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "assign", "to": {"user_id": 1, "team_id": 2}}]});
    assert_eq!(codes_of(&both), ["assign_user_or_team"]);
}

#[test]
fn a_loop_needs_a_jump_step() {
    let spin = json!({"trigger": {"kind": "manual"}, "steps": [
        {"id": "a", "kind": "add_note", "text": "x", "next": "b"},
        {"id": "b", "kind": "wait", "seconds": 5, "next": "a"}]});
    let problems = problems_of(spin);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("loop"));
    assert_eq!(problems[0].code, "loop_without_jump");
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

#[test]
fn problem_codes_are_snake_case_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for code in PROBLEM_CODES {
        let snake = code.starts_with(|c: char| c.is_ascii_lowercase())
            && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !code.ends_with('_')
            && !code.contains("__");
        assert!(snake, "{code:?} is not snake_case");
        assert!(seen.insert(code), "{code} is listed twice");
    }
}

/// One broken definition (or more) for each code: every code validation emits is listed in
/// `PROBLEM_CODES`, and every listed code is emitted by something (none is left over).
#[test]
fn every_problem_code_is_listed_and_emitted() {
    let manual = |s: Value| json!({"trigger": {"kind": "manual"}, "steps": [s]});
    let trigger = |t: Value| json!({"trigger": t, "steps": [{"id": "a", "kind": "unassign"}]});
    let ask = |extra: Value| {
        let mut s = json!({"id": "a", "kind": "ask_question", "text": "Which?", "timeout_seconds": 3600});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        manual(s)
    };
    let http = |extra: Value| {
        let mut s = json!({"id": "a", "kind": "http_request", "method": "POST", "url": "https://crm.example/x"});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        manual(s)
    };
    let hours = |h: Value| manual(json!({"id": "a", "kind": "business_hours", "hours": h}));
    let webhook = |extra: Value| {
        let mut t = json!({"kind": "incoming_webhook", "channel_id": 1, "phone": "/phone"});
        t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        trigger(t)
    };
    let schedule = |cron: &str, tz: &str, tags: Value| {
        trigger(json!({"kind": "schedule", "cron": cron, "timezone": tz, "tags": tags}))
    };
    let many = |n: usize, each: &dyn Fn(usize) -> Value| Value::Array((0..n).map(each).collect());
    let cases: Vec<(Value, &str)> = vec![
        (json!({"trigger": {"kind": "sometimes"}, "steps": []}), "unreadable"),
        (json!({"trigger": {"kind": "manual", "x": 1}, "steps": []}), "trigger_unknown_field"),
        (manual(json!({"id": "a", "kind": "unassign", "tags": ["x"]})), "step_unknown_field"),
        (manual(json!({"id": "a", "kind": "assign", "to": {"user_id": 1, "team_id": 2}})), "assign_user_or_team"),
        (json!({"trigger": {"kind": "manual"}, "steps": []}), "steps_count"),
        (manual(json!({"id": "A B", "kind": "unassign"})), "step_id"),
        (
            json!({"trigger": {"kind": "manual"}, "steps": [{"id": "a", "kind": "unassign"}, {"id": "a", "kind": "reopen"}]}),
            "duplicate_step_id",
        ),
        (
            json!({"trigger": {"kind": "contact_created"}, "steps": [{"id": "a", "kind": "add_note", "text": "x"}]}),
            "needs_conversation",
        ),
        (manual(json!({"id": "a", "kind": "unassign", "next": "b"})), "unknown_target"),
        (
            json!({"trigger": {"kind": "manual"}, "steps": [
                {"id": "a", "kind": "add_note", "text": "x", "next": "b"},
                {"id": "b", "kind": "wait", "seconds": 5, "next": "a"}]}),
            "loop_without_jump",
        ),
        (
            json!({"trigger": {"kind": "manual"}, "conditions": [{"subject": "shoe", "op": "exists"}],
                   "steps": [{"id": "a", "kind": "unassign"}]}),
            "condition_subject",
        ),
        (
            json!({"trigger": {"kind": "manual"}, "conditions": [{"subject": "message.text", "op": "equals"}],
                   "steps": [{"id": "a", "kind": "unassign"}]}),
            "condition_value",
        ),
        (manual(json!({"id": "a", "kind": "send_message", "text": "Hi {{contact}}"})), "variable_path"),
        (manual(json!({"id": "a", "kind": "send_message", "text": ""})), "text_length"),
        (
            manual(
                json!({"id": "a", "kind": "send_message", "text": "x", "media": {"kind": "audio", "link": "https://x.example/a"}}),
            ),
            "message_content",
        ),
        (
            manual(json!({"id": "a", "kind": "send_message", "text": "x", "template": {"name": "t", "language": " "}})),
            "template_name_language",
        ),
        (manual(json!({"id": "a", "kind": "remove_tags", "tags": ["x".repeat(65)]})), "tags"),
        (manual(json!({"id": "a", "kind": "add_note", "text": " "})), "note_length"),
        (manual(json!({"id": "a", "kind": "set_field", "field": "Plan", "value": "x"})), "field_name"),
        (
            manual(json!({"id": "a", "kind": "set_field", "field": "plan", "value": "x".repeat(1025)})),
            "field_value_length",
        ),
        (manual(json!({"id": "a", "kind": "close", "note": "x".repeat(4097)})), "closing_note_length"),
        (manual(json!({"id": "a", "kind": "wait", "seconds": -1})), "wait_duration"),
        (manual(json!({"id": "a", "kind": "wait_until", "time": "9h", "timezone": "UTC"})), "time_of_day"),
        (manual(json!({"id": "a", "kind": "branch", "rules": []})), "branch_rules"),
        (manual(json!({"id": "a", "kind": "jump", "to": "a", "max_times": MAX_JUMPS + 1})), "jump_times"),
        (ask(json!({"text": ""})), "question_length"),
        (ask(json!({"expect": "choice", "options": many(11, &|i| json!(format!("o{i}")))})), "options_count"),
        (ask(json!({"options": ["A"]})), "options_without_choice"),
        (ask(json!({"expect": "choice", "options": ["A", " "]})), "option_length"),
        (ask(json!({"expect": "choice", "options": ["A", "a"]})), "option_twice"),
        (ask(json!({"timeout_seconds": 59})), "answer_timeout"),
        (ask(json!({"retries": 6})), "answer_retries"),
        (ask(json!({"retry_text": ""})), "retry_text_length"),
        (ask(json!({"save_to": "E-mail"})), "field_name"),
        (http(json!({"url": "crm.example/x"})), "url"),
        (http(json!({"url": "https://{{vars.host}}"})), "url_host_variable"),
        (http(json!({"headers": {"X Y": "1"}})), "header_name"),
        (http(json!({"headers": {"Content-Length": "1"}})), "header_reserved"),
        (http(json!({"headers": {"X-Y": "a\nb"}})), "header_value"),
        (http(json!({"body": {"x": "x".repeat(16 * 1024)}})), "body_size"),
        (http(json!({"method": "DELETE", "body": {}})), "body_not_sent"),
        (http(json!({"save": (0..21).map(|i| (format!("v{i}"), json!("/x"))).collect::<Map<_, _>>()})), "saved_count"),
        (http(json!({"save": {"Tier": "/tier"}})), "variable_name"),
        (http(json!({"save": {"tier": "tier"}})), "json_pointer"),
        (http(json!({"retries": 4})), "call_retries"),
        (manual(json!({"id": "a", "kind": "wait_until", "time": "09:00", "timezone": "Paris"})), "timezone"),
        (hours(json!({"timezone": "Mars/Olympus", "days": {}})), "timezone"),
        (hours(json!({"timezone": "UTC", "days": {"monday": []}})), "hours_day"),
        (hours(json!({"timezone": "UTC", "days": {"mon": ["9-18"]}})), "hours_interval"),
        (hours(json!({"timezone": "UTC", "days": {}, "closed_dates": ["25/12"]})), "closed_date"),
        (schedule("0 9 * *", "UTC", json!([])), "schedule_fields"),
        (schedule("0 25 * * *", "UTC", json!([])), "schedule_syntax"),
        (schedule("0 9 * * *", "Nowhere", json!([])), "timezone"),
        (schedule("0 9 * * *", "UTC", many(21, &|i| json!(format!("t{i}")))), "segment_tags"),
        (trigger(json!({"kind": "tag_removed", "tag": ""})), "trigger_tag"),
        (trigger(json!({"kind": "message_received", "keywords": [" "]})), "trigger_keywords"),
        (trigger(json!({"kind": "message_received", "pattern": "x".repeat(501)})), "pattern_length"),
        (trigger(json!({"kind": "message_received", "pattern": "(unclosed"})), "pattern_syntax"),
        (trigger(json!({"kind": "contact_field_updated", "field": "Plan"})), "field_name"),
        (trigger(json!({"kind": "ad_referral", "source_id": " "})), "ad_source_id"),
        (trigger(json!({"kind": "inactivity", "who": "contact", "hours": 0})), "inactivity_hours"),
        (webhook(json!({"name": "name"})), "webhook_pointers"),
        (
            webhook(json!({"fields": (0..51).map(|i| (format!("f{i}"), json!("/x"))).collect::<Map<_, _>>()})),
            "webhook_fields_count",
        ),
        (webhook(json!({"fields": {"Plan": "/plan"}})), "field_name"),
    ];
    // The builder's English strings: each `wf.problem.<code>` may name only values its problem
    // carries in `params` (else the page would show `{max}`). The translations name the same
    // ones (the server's i18n test).
    let english: Map<String, Value> =
        serde_json::from_str(include_str!("../../../parley-server/assets/i18n/en.json")).unwrap();
    let placeholders = |text: &str| -> Vec<String> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect()
    };
    let mut emitted = std::collections::BTreeSet::new();
    for (definition, code) in &cases {
        let problems = all_problems_of(definition);
        assert!(problems.iter().any(|p| p.code == *code), "{definition}: {problems:?}, not {code}");
        for p in problems {
            assert!(PROBLEM_CODES.contains(&p.code), "{} is emitted but not in PROBLEM_CODES", p.code);
            let key = format!("wf.problem.{}", p.code);
            let text = english.get(&key).and_then(Value::as_str).unwrap_or_else(|| panic!("en.json lacks {key}"));
            for name in placeholders(text) {
                assert!(p.params.contains_key(&name), "{}: {{{name}}} is not in {:?}", p.code, p.params);
            }
            emitted.insert(p.code);
        }
    }
    let listed: std::collections::BTreeSet<&str> = PROBLEM_CODES.iter().copied().collect();
    assert_eq!(emitted, listed, "listed codes no definition here emits, or the reverse");
}
