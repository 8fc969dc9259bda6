//! Duplicate contacts: which contacts look like one person, and why (PRODUCT.md §2).
//!
//! Two contacts are suggested for merging when they have the same E.164 phone, the same email
//! ignoring case, when one's WhatsApp id is the other's number, or when their numbers are two
//! forms of one WhatsApp number (Brazil's ninth digit, Mexico's `521`, Argentina's `549`; see
//! [`crate::whatsapp`]). A group of n look-alikes gives n − 1 pairs, each with the group's oldest
//! contact, which is what a merge needs.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::whatsapp::number_forms;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    SamePhone,
    SameWhatsappId,
    SameEmail,
    PhoneVariant,
}

impl DuplicateReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateReason::SamePhone => "same_phone",
            DuplicateReason::SameWhatsappId => "same_whatsapp_id",
            DuplicateReason::SameEmail => "same_email",
            DuplicateReason::PhoneVariant => "phone_variant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::SamePhone, Self::SameWhatsappId, Self::SameEmail, Self::PhoneVariant]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// What dedupe looks at of one contact, as stored (values may predate normalization).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DedupeEntry {
    pub id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The contact's WhatsApp ids (digits).
    pub wa_ids: Vec<String>,
}

/// Two contacts that look like one person; `a < b`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DuplicatePair {
    pub a: i64,
    pub b: i64,
    pub reason: DuplicateReason,
    /// What they share: the number (preferred form, with `+`) or the email.
    pub matched: String,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Phone,
    WhatsApp,
}

/// The number's digits, whatever the formatting of the stored value.
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// Digits as an integer (numbers have at most 15 digits, WhatsApp ids 20; longer values are not
/// numbers anyone can share and are left out).
fn as_int(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 { None } else { digits.parse().ok() }
}

/// The lookup forms of a contact with `phone`, for incremental lookups: every form of the number
/// with `+` (and the stored value itself), and every form as a WhatsApp id.
pub fn lookup_forms(phone: &str) -> (Vec<String>, Vec<String>) {
    let forms = number_forms(&digits(phone));
    let phones = forms.iter().map(|f| format!("+{f}")).chain(std::iter::once(phone.to_owned())).collect();
    (phones, forms)
}

/// The lookup forms of a WhatsApp id: the phones it may be stored as, and its other id forms.
pub fn lookup_forms_of_wa_id(wa_id: &str) -> (Vec<String>, Vec<String>) {
    let forms = number_forms(wa_id);
    (forms.iter().map(|f| format!("+{f}")).collect(), forms)
}

/// Collects what dedupe compares, compactly (a full run holds every contact of a workspace:
/// numbers are kept as integers), then finds the pairs.
#[derive(Default)]
pub struct DuplicateFinder {
    /// (key every form of the number shares, contact, where it came from, the exact digits).
    numbers: Vec<(u64, i64, Source, u64)>,
    /// (lowercased email, contact).
    emails: Vec<(Box<str>, i64)>,
}

impl DuplicateFinder {
    pub fn add_phone(&mut self, id: i64, phone: &str) {
        let d = digits(phone);
        if let (Some(key), Some(exact)) = (as_int(&number_forms(&d)[0]), as_int(&d)) {
            self.numbers.push((key, id, Source::Phone, exact));
        }
    }

    pub fn add_wa_id(&mut self, id: i64, wa_id: &str) {
        if let (Some(key), Some(exact)) = (as_int(&number_forms(wa_id)[0]), as_int(wa_id)) {
            self.numbers.push((key, id, Source::WhatsApp, exact));
        }
    }

    pub fn add_email(&mut self, id: i64, email: &str) {
        let email = email.trim().to_lowercase();
        if !email.is_empty() {
            self.emails.push((email.into_boxed_str(), id));
        }
    }

    pub fn add(&mut self, e: &DedupeEntry) {
        if let Some(phone) = &e.phone {
            self.add_phone(e.id, phone);
        }
        for wa in &e.wa_ids {
            self.add_wa_id(e.id, wa);
        }
        if let Some(email) = &e.email {
            self.add_email(e.id, email);
        }
    }

    /// The pairs, one per couple of contacts with its strongest reason. `only_with`, when
    /// given, keeps those that involve one of these contacts (incremental runs).
    pub fn pairs(mut self, only_with: Option<&HashSet<i64>>) -> Vec<DuplicatePair> {
        let wanted = |a: i64, b: i64| only_with.is_none_or(|only| only.contains(&a) || only.contains(&b));
        let mut pairs: Vec<DuplicatePair> = Vec::new();
        self.numbers.sort_unstable();
        for group in self.numbers.chunk_by(|x, y| x.0 == y.0) {
            let anchor = group[0].1;
            let anchor_members: Vec<_> = group.iter().filter(|m| m.1 == anchor).collect();
            for member in group.iter().filter(|m| m.1 != anchor && wanted(anchor, m.1)) {
                let reason = anchor_members
                    .iter()
                    .map(|a| match (a.2, member.2) {
                        (Source::Phone, Source::Phone) if a.3 == member.3 => DuplicateReason::SamePhone,
                        (Source::Phone, Source::Phone) => DuplicateReason::PhoneVariant,
                        _ => DuplicateReason::SameWhatsappId,
                    })
                    .min()
                    .unwrap_or(DuplicateReason::SamePhone);
                pairs.push(DuplicatePair { a: anchor, b: member.1, reason, matched: format!("+{}", group[0].0) });
            }
        }
        self.numbers = Vec::new();
        self.emails.sort_unstable();
        for group in self.emails.chunk_by(|x, y| x.0 == y.0) {
            let anchor = group[0].1;
            for member in group.iter().filter(|m| m.1 != anchor && wanted(anchor, m.1)) {
                let matched = group[0].0.to_string();
                pairs.push(DuplicatePair { a: anchor, b: member.1, reason: DuplicateReason::SameEmail, matched });
            }
        }
        pairs.sort_unstable_by_key(|p| (p.a, p.b, p.reason));
        pairs.dedup_by(|later, first| (later.a, later.b) == (first.a, first.b));
        pairs
    }
}

/// The pairs `entries` form (see [`DuplicateFinder::pairs`]).
pub fn duplicate_pairs(entries: &[DedupeEntry], only_with: Option<&HashSet<i64>>) -> Vec<DuplicatePair> {
    let mut finder = DuplicateFinder::default();
    for e in entries {
        finder.add(e);
    }
    finder.pairs(only_with)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, phone: Option<&str>, email: Option<&str>, wa: &[&str]) -> DedupeEntry {
        DedupeEntry {
            id,
            phone: phone.map(str::to_owned),
            email: email.map(str::to_owned),
            wa_ids: wa.iter().map(|w| w.to_string()).collect(),
        }
    }

    fn reasons(pairs: &[DuplicatePair]) -> Vec<(i64, i64, &'static str)> {
        pairs.iter().map(|p| (p.a, p.b, p.reason.as_str())).collect()
    }

    #[test]
    fn same_phone() {
        let pairs = duplicate_pairs(
            &[
                entry(1, Some("+33612345678"), None, &[]),
                entry(2, Some("+33612345678"), None, &[]),
                entry(3, Some("+33699999999"), None, &[]),
            ],
            None,
        );
        assert_eq!(reasons(&pairs), [(1, 2, "same_phone")]);
        assert_eq!(pairs[0].matched, "+33612345678");
    }

    #[test]
    fn same_email_ignoring_case() {
        let pairs =
            duplicate_pairs(&[entry(4, None, Some("Ana@X.com"), &[]), entry(9, None, Some("ana@x.com "), &[])], None);
        assert_eq!(reasons(&pairs), [(4, 9, "same_email")]);
        assert_eq!(pairs[0].matched, "ana@x.com");
    }

    #[test]
    fn whatsapp_id_against_a_number_including_an_old_brazilian_id() {
        let pairs = duplicate_pairs(
            &[entry(1, None, None, &["551191234567"]), entry(2, Some("+5511991234567"), None, &[])],
            None,
        );
        assert_eq!(reasons(&pairs), [(1, 2, "same_whatsapp_id")]);
        assert_eq!(pairs[0].matched, "+5511991234567");
    }

    #[test]
    fn quirk_variants() {
        // Argentina with and without the mobile 9, Mexico with and without the 1.
        let pairs = duplicate_pairs(
            &[
                entry(1, Some("+5491123456789"), None, &[]),
                entry(2, Some("+541123456789"), None, &[]),
                entry(3, Some("+525512345678"), None, &[]),
                entry(4, Some("+52 1 55 1234 5678"), None, &[]),
            ],
            None,
        );
        assert_eq!(reasons(&pairs), [(1, 2, "phone_variant"), (3, 4, "phone_variant")]);
    }

    #[test]
    fn a_group_pairs_with_its_oldest_and_the_strongest_reason_wins() {
        let pairs = duplicate_pairs(
            &[
                entry(7, Some("+33612345678"), Some("a@x.com"), &[]),
                entry(3, Some("+33612345678"), Some("a@x.com"), &[]),
                entry(5, None, Some("A@x.com"), &[]),
            ],
            None,
        );
        assert_eq!(reasons(&pairs), [(3, 5, "same_email"), (3, 7, "same_phone")]);
    }

    #[test]
    fn incremental_keeps_pairs_of_the_changed_contacts() {
        let entries = [
            entry(1, Some("+33612345678"), None, &[]),
            entry(2, Some("+33612345678"), None, &[]),
            entry(3, None, Some("b@x.com"), &[]),
            entry(4, None, Some("b@x.com"), &[]),
        ];
        let only: HashSet<i64> = [4].into();
        assert_eq!(reasons(&duplicate_pairs(&entries, Some(&only))), [(3, 4, "same_email")]);
    }

    #[test]
    fn lookups_cover_every_form() {
        let (phones, ids) = lookup_forms("+5511991234567");
        assert!(phones.contains(&"+5511991234567".to_owned()));
        assert!(ids.contains(&"551191234567".to_owned()));
        let (phones, _) = lookup_forms_of_wa_id("551191234567");
        assert!(phones.contains(&"+5511991234567".to_owned()));
    }

    #[test]
    fn reasons_round_trip() {
        for r in [
            DuplicateReason::SamePhone,
            DuplicateReason::SameWhatsappId,
            DuplicateReason::SameEmail,
            DuplicateReason::PhoneVariant,
        ] {
            assert_eq!(DuplicateReason::parse(r.as_str()), Some(r));
        }
    }
}
