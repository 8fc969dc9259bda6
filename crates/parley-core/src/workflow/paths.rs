//! The human path (PRODUCT.md §6): WhatsApp requires automated chats to offer a way to a person,
//! and flags numbers whose automations do not. A path of a workflow that replies automatically
//! must also reach a person: an `assign` step to a person or a team, or a message that gives a
//! phone number, an email address or a web link. This finds the paths that do not, so that
//! publishing can warn and name them.

use std::collections::HashMap;

use super::{Action, AssignTo, Definition, Step, edges};

/// Paths followed at most; a definition with more (many branches in a row) is judged on these.
const MAX_PATHS: usize = 10_000;
/// Paths reported at most.
const MAX_REPORTED: usize = 20;

/// Whether a text offers a way to reach a person: an email address, a link, or a phone number
/// (seven digits or more, spaces, dots and hyphens allowed between them).
pub fn offers_contact(text: &str) -> bool {
    let lower = text.to_lowercase();
    let email = lower.split_whitespace().any(|w| {
        w.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.trim_end_matches('.').contains('.'))
    });
    let link = lower.contains("http://") || lower.contains("https://") || lower.contains("www.");
    let mut digits = 0;
    let mut phone = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            phone |= digits >= 7;
        } else if !matches!(c, ' ' | '.' | '-' | '(' | ')' | '+') {
            digits = 0;
        }
    }
    email || link || phone
}

/// The paths (step ids from the first step) that send a message but never reach a person.
/// `is_bot` tells which users are bots: assigning to a bot is not a way to a person.
pub fn paths_without_a_person(d: &Definition, is_bot: &dyn Fn(i64) -> bool) -> Vec<Vec<String>> {
    let by_id: HashMap<&str, &Step> = d.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let Some(first) = d.steps.first() else { return vec![] };
    let mut found = Vec::new();
    let mut followed = 0;
    let mut stack: Vec<Vec<&str>> = vec![vec![first.id.as_str()]];
    while let Some(path) = stack.pop() {
        followed += 1;
        if followed > MAX_PATHS || found.len() >= MAX_REPORTED {
            break;
        }
        let last = by_id[path.last().expect("a path has a step")];
        // A path ends where its step leads nowhere new (the end, or back to a step it passed).
        let onward: Vec<&str> =
            edges(last).into_iter().map(|(t, _)| t).filter(|t| by_id.contains_key(t) && !path.contains(t)).collect();
        if onward.is_empty() {
            let steps: Vec<&Step> = path.iter().map(|id| by_id[id]).collect();
            let replies = steps.iter().any(|s| matches!(s.action, Action::SendMessage { .. } | Action::AskQuestion(_)));
            let person = steps.iter().any(|s| match &s.action {
                Action::Assign { to: AssignTo::Team { .. } | AssignTo::Available { .. } } => true,
                Action::Assign { to: AssignTo::User { user_id } } => !is_bot(*user_id),
                Action::SendMessage { text, .. } => offers_contact(text),
                Action::AskQuestion(q) => offers_contact(&q.text),
                _ => false,
            });
            if replies && !person {
                found.push(path.iter().map(|s| (*s).to_owned()).collect());
            }
            continue;
        }
        for next in onward.into_iter().rev() {
            let mut longer = path.clone();
            longer.push(next);
            stack.push(longer);
        }
    }
    found
}
