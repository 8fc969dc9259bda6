//! The inbox's languages: English, French and Vietnamese. Strings live in
//! `assets/i18n/{en,fr,vi}.json` (flat `key → text` maps, embedded in the binary); the page hands
//! the user's map to the browser, where dates and numbers are formatted per locale by `Intl`.
//! A user's saved choice wins; otherwise the browser's `Accept-Language`; otherwise English.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    Fr,
    Vi,
}

pub const LOCALES: [Locale; 3] = [Locale::En, Locale::Fr, Locale::Vi];

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
            Locale::Vi => "vi",
        }
    }

    pub fn parse(s: &str) -> Option<Locale> {
        LOCALES.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s))
    }

    fn source(self) -> &'static str {
        match self {
            Locale::En => include_str!("../../assets/i18n/en.json"),
            Locale::Fr => include_str!("../../assets/i18n/fr.json"),
            Locale::Vi => include_str!("../../assets/i18n/vi.json"),
        }
    }

    /// This language's strings as the JSON the page embeds.
    pub fn json(self) -> &'static str {
        self.source()
    }

    /// The string for `key` (empty when missing, which a test forbids).
    pub fn t(self, key: &str) -> &'static str {
        STRINGS.get(&self).and_then(|m| m.get(key)).map_or("", String::as_str)
    }
}

static STRINGS: LazyLock<HashMap<Locale, HashMap<String, String>>> = LazyLock::new(|| {
    LOCALES
        .into_iter()
        // The files are ours and checked by the tests below: a broken one is a build defect.
        .map(|l| (l, serde_json::from_str(l.source()).expect("valid i18n JSON")))
        .collect()
});

/// The best of our languages for an `Accept-Language` header (`fr-CA,fr;q=0.9,en;q=0.8`):
/// the highest-weighted one we have, English when none.
pub fn negotiate(accept_language: Option<&str>) -> Locale {
    let mut best: Option<(f32, Locale)> = None;
    for part in accept_language.unwrap_or("").split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim();
        let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        if let Some(locale) = Locale::parse(primary)
            && q > 0.0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, locale));
        }
    }
    best.map_or(Locale::En, |(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_is_negotiated_by_weight() {
        assert_eq!(negotiate(Some("fr-CA,fr;q=0.9,en;q=0.8")), Locale::Fr);
        assert_eq!(negotiate(Some("de-DE,vi;q=0.5,en;q=0.4")), Locale::Vi);
        assert_eq!(negotiate(Some("en;q=0.2, fr;q=0.7")), Locale::Fr);
        assert_eq!(negotiate(Some("de, ja")), Locale::En);
        assert_eq!(negotiate(Some("fr;q=0")), Locale::En, "q=0 means not wanted");
        assert_eq!(negotiate(None), Locale::En);
        assert_eq!(negotiate(Some(";;,,q=")), Locale::En);
    }

    #[test]
    fn every_language_has_every_string_and_none_is_empty() {
        let en = &STRINGS[&Locale::En];
        assert!(en.len() > 50, "the English file has {} strings", en.len());
        for locale in LOCALES {
            let map = &STRINGS[&locale];
            for key in en.keys() {
                assert!(map.contains_key(key), "{} lacks {key}", locale.as_str());
            }
            for (key, text) in map {
                assert!(en.contains_key(key), "{} has {key}, which English lacks", locale.as_str());
                assert!(!text.trim().is_empty(), "{} {key} is empty", locale.as_str());
            }
        }
    }

    /// The `{name}` placeholders of a string (`{{…}}`, a variable shown as written, is not one).
    fn placeholders(text: &str) -> std::collections::BTreeSet<&str> {
        let mut found = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            let Some(close) = rest.find('}') else { break };
            let name = &rest[..close];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                found.insert(name);
            }
        }
        found
    }

    #[test]
    fn every_workflow_problem_code_is_translated() {
        use parley_core::workflow::PROBLEM_CODES;
        for locale in LOCALES {
            let map = &STRINGS[&locale];
            for code in PROBLEM_CODES {
                let key = format!("wf.problem.{code}");
                assert!(map.contains_key(&key), "{} lacks {key}", locale.as_str());
                // The same values are named in each language.
                let en = placeholders(&STRINGS[&Locale::En][&key]);
                assert_eq!(placeholders(&map[&key]), en, "{} {key}", locale.as_str());
            }
            for key in map.keys().filter(|k| k.starts_with("wf.problem.")) {
                let code = &key["wf.problem.".len()..];
                assert!(PROBLEM_CODES.contains(&code), "{} has {key}, which no problem carries", locale.as_str());
            }
        }
    }

    #[test]
    fn french_and_vietnamese_are_translations_not_copies() {
        let en = &STRINGS[&Locale::En];
        for locale in [Locale::Fr, Locale::Vi] {
            let same = en.iter().filter(|(k, v)| STRINGS[&locale][*k] == **v).count();
            // A few strings are the same word in each (e.g. "OK", "Email"): the rest must differ.
            assert!(same * 10 < en.len(), "{}: {same} of {} strings are the English ones", locale.as_str(), en.len());
        }
    }
}
