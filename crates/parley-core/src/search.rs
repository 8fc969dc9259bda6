//! Text folding for search: lowercase, diacritics removed (`Nguyễn` → `nguyen`, `Élodie` →
//! `elodie`), so a query typed without accents finds the contact. Both databases search the folded
//! text, which keeps results identical on SQLite and PostgreSQL.
//!
//! Contacts, messages and notes all match by word prefix. What is indexed is [`search_words`]
//! (folded words, one space apart; for contacts [`contact_search_text`] adds the phone's digits),
//! and a query becomes [`SearchTerms`]: every term must start a word of the text. SQLite's FTS5
//! and PostgreSQL's `to_tsvector('simple', …)` both split the indexed words on the spaces we put
//! there, so the engines see the same words.

use unicode_normalization::UnicodeNormalization;

use crate::E164;
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

/// The words a contact is found by: its name's and email's words, and the phone's digits with
/// and without the country code (`+33 6 12…` is typed `3361…` or `61…`).
pub fn contact_search_text(name: Option<&str>, email: Option<&str>, phone: Option<&E164>) -> String {
    let parts = [
        name.map(search_words),
        email.map(search_words),
        phone.map(|p| p.digits().to_owned()),
        phone.map(|p| p.national_digits().to_owned()),
    ];
    parts.into_iter().flatten().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The words a text is found by: folded, split on anything that is not a letter or a digit,
/// joined by single spaces (`"Chào anh, đơn #1042!"` → `"chao anh don 1042"`).
pub fn search_words(text: &str) -> String {
    let folded = fold(text);
    let mut out = String::with_capacity(folded.len());
    for word in folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A search query as the stores run it: each term must start a word of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

/// Why a query cannot be searched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query has no letters or digits to search for")]
    Empty,
    #[error("the query is too short: type at least {min} letters or digits")]
    TooShort { min: usize },
}

impl SearchTerms {
    /// At most this many terms are kept (the first ones).
    pub const MAX_TERMS: usize = 8;
    /// Longer terms are cut (no word of a message is that long).
    pub const MAX_TERM_CHARS: usize = 64;
    /// A query shorter than this (letters and digits together) would match most of the index.
    pub const MIN_CHARS: usize = 2;

    /// Reads a user's query: folded words, each a prefix to match. A query that looks like a
    /// phone number (`+33 6 12`, `(028) 3822`) becomes its digits as one term.
    pub fn parse(query: &str) -> Result<SearchTerms, QueryError> {
        let phone_like = query.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        let words = if phone_like {
            vec![query.chars().filter(char::is_ascii_digit).collect::<String>()]
        } else {
            search_words(query).split(' ').map(str::to_owned).collect()
        };
        let terms: Vec<String> = words
            .into_iter()
            .filter(|w| !w.is_empty())
            .take(Self::MAX_TERMS)
            .map(|w| w.chars().take(Self::MAX_TERM_CHARS).collect())
            .collect();
        let chars: usize = terms.iter().map(|t| t.chars().count()).sum();
        match chars {
            0 => Err(QueryError::Empty),
            n if n < Self::MIN_CHARS => Err(QueryError::TooShort { min: Self::MIN_CHARS }),
            _ => Ok(SearchTerms(terms)),
        }
    }

    /// The terms: letters and digits only, never empty.
    pub fn terms(&self) -> &[String] {
        &self.0
    }
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
    fn words_are_folded_and_split_on_anything_else() {
        assert_eq!(search_words("Chào anh, đơn #1042 đã gửi!"), "chao anh don 1042 da gui");
        assert_eq!(search_words("  ana.lima@example.com  "), "ana lima example com");
        assert_eq!(search_words("*bold* _it_ ~x~"), "bold it x");
        assert_eq!(search_words("!!!"), "");
    }

    #[test]
    fn queries_become_prefix_terms() {
        let terms = |q: &str| SearchTerms::parse(q).map(|t| t.terms().to_vec());
        assert_eq!(terms("Đơn HÀNG"), Ok(vec!["don".into(), "hang".into()]));
        assert_eq!(terms("+33 6 12"), Ok(vec!["33612".into()]));
        assert_eq!(terms("(028) 38-22"), Ok(vec!["0283822".into()]));
        assert_eq!(terms("order 1042"), Ok(vec!["order".into(), "1042".into()]));
        // Syntax of either engine is only punctuation here, never a term.
        assert_eq!(
            terms("\"a\" OR b* NEAR(c)"),
            Ok(vec!["a".into(), "or".into(), "b".into(), "near".into(), "c".into()])
        );
        assert_eq!(terms("  ?!  "), Err(QueryError::Empty));
        assert_eq!(terms(""), Err(QueryError::Empty));
        assert_eq!(terms("a"), Err(QueryError::TooShort { min: 2 }));
        assert_eq!(terms("a b"), Ok(vec!["a".into(), "b".into()]));
        let many = SearchTerms::parse("a b c d e f g h i j").unwrap();
        assert_eq!(many.terms().len(), SearchTerms::MAX_TERMS);
        let long = SearchTerms::parse(&"x".repeat(500)).unwrap();
        assert_eq!(long.terms()[0].len(), SearchTerms::MAX_TERM_CHARS);
    }

    #[test]
    fn search_text() {
        let phone = E164::parse("+33612345678").unwrap();
        assert_eq!(
            contact_search_text(Some("Ána Lê"), Some("ana.le@x.com"), Some(&phone)),
            "ana le ana le x com 33612345678 612345678"
        );
        assert_eq!(contact_search_text(None, None, None), "");
        assert_eq!(contact_search_text(Some("?"), None, Some(&phone)), "33612345678 612345678");
    }
}
