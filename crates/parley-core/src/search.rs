//! Text folding for search: lowercase, diacritics removed (`Nguyễn` → `nguyen`, `Élodie` →
//! `elodie`), so a query typed without accents finds the contact. Both databases search the folded
//! text with the same `LIKE`, which keeps results identical on SQLite and PostgreSQL.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            // Letters that are not a base letter plus a combining mark.
            'đ' => 'd',
            'ł' => 'l',
            'ø' => 'o',
            'ß' => 's',
            other => other,
        })
        .collect()
}

/// The text a contact is found by: folded name and email, and the phone's digits.
pub fn contact_search_text(name: Option<&str>, email: Option<&str>, phone_digits: Option<&str>) -> String {
    let mut out = String::new();
    for part in [name.map(fold), email.map(str::to_owned), phone_digits.map(str::to_owned)].into_iter().flatten() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&part);
    }
    out
}

/// Turns a user's query into `LIKE` patterns over the search text: the folded query, and its
/// digits when it has at least three (so `+33 6 12` finds `33612…`). `%`, `_` and `\` are escaped.
pub fn like_patterns(query: &str) -> (String, Option<String>) {
    let folded = fold(query.trim());
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    let digits = (digits.len() >= 3).then(|| format!("%{}%", escape_like(&digits)));
    (format!("%{}%", escape_like(&folded)), digits)
}

/// Escapes `LIKE` wildcards; queries use `ESCAPE '\'`.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_vietnamese_and_french() {
        assert_eq!(fold("Nguyễn Thị Đào"), "nguyen thi dao");
        assert_eq!(fold("Élodie Ærø"), "elodie æro");
    }

    #[test]
    fn patterns() {
        assert_eq!(like_patterns(" Ana "), ("%ana%".into(), None));
        assert_eq!(like_patterns("+33 6 12"), ("%+33 6 12%".into(), Some("%33612%".into())));
        assert_eq!(like_patterns("50%_off").0, "%50\\%\\_off%");
    }

    #[test]
    fn search_text() {
        assert_eq!(contact_search_text(Some("Ána"), Some("ana@x.com"), Some("336")), "ana\nana@x.com\n336");
        assert_eq!(contact_search_text(None, None, None), "");
    }
}
