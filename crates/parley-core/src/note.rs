//! Internal notes on a conversation: what agents write for each other (never sent to the
//! customer), and the teammates a note mentions with `@Name`.

use crate::ids::UserId;
use crate::validation::Invalid;

pub const MAX_NOTE_CHARS: usize = 4096;

pub fn check_note(raw: &str) -> Result<String, Invalid> {
    let body = raw.trim();
    let chars = body.chars().count();
    if chars == 0 || chars > MAX_NOTE_CHARS {
        return Err(Invalid::new("invalid_note", Some("body".into()), "a note has 1 to 4,096 characters"));
    }
    Ok(body.to_owned())
}

/// The users a note mentions: `@` followed by a user's name (any case), ending the note or
/// followed by a character that cannot continue a name (space, punctuation). When names overlap
/// (`@Ana` and `@Ana Lima`) the longest wins. Each user once, in the order first mentioned.
pub fn mentions(body: &str, users: &[(UserId, String)]) -> Vec<UserId> {
    let lower = body.to_lowercase();
    let mut by_length: Vec<(UserId, String)> =
        users.iter().map(|(id, name)| (*id, name.trim().to_lowercase())).filter(|(_, n)| !n.is_empty()).collect();
    by_length.sort_by_key(|(_, n)| std::cmp::Reverse(n.chars().count()));
    let mut found: Vec<(usize, UserId)> = Vec::new();
    for (at, _) in lower.match_indices('@') {
        let rest = &lower[at + 1..];
        let hit = by_length.iter().find(|(_, name)| {
            rest.starts_with(name.as_str())
                && rest[name.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '-')
        });
        if let Some((id, _)) = hit
            && !found.iter().any(|(_, u)| u == id)
        {
            found.push((at, *id));
        }
    }
    found.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Vec<(UserId, String)> {
        vec![
            (UserId(1), "Ana".into()),
            (UserId(2), "Ana Lima".into()),
            (UserId(3), "Bình".into()),
            (UserId(4), "Zoé".into()),
        ]
    }

    #[test]
    fn mentions_find_teammates_by_name_longest_first() {
        assert_eq!(mentions("@Ana Lima can you check?", &team()), vec![UserId(2)]);
        assert_eq!(mentions("ping @ana, and @BÌNH.", &team()), vec![UserId(1), UserId(3)]);
        assert_eq!(mentions("@zoé @Zoé again", &team()), vec![UserId(4)], "once each");
        assert_eq!(mentions("@Anabel is not Ana", &team()), vec![], "a name must end there");
        assert_eq!(mentions("mail ana@example.com", &team()), vec![]);
        assert_eq!(mentions("no mentions", &team()), vec![]);
        assert_eq!(mentions("@", &team()), vec![]);
    }

    #[test]
    fn notes_have_text_within_the_limit() {
        assert_eq!(check_note("  call back at 5 ").unwrap(), "call back at 5");
        assert_eq!(check_note(" ").unwrap_err().code, "invalid_note");
        assert!(check_note(&"x".repeat(4097)).is_err());
    }
}
