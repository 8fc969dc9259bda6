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
    Email,
}

/// The number's digits, whatever the formatting of the stored value.
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// The key every form of one WhatsApp number shares.
fn number_key(digits: &str) -> String {
    number_forms(digits).swap_remove(0)
}

/// The phones and WhatsApp ids under which look-alikes of a contact with `phone` may be stored
/// (for incremental lookups): every form of the number, with and without `+`.
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

/// The pairs `entries` form. `only_with`, when given, keeps the pairs that involve one of these
/// contacts (incremental runs look at the contacts that changed and their look-alikes).
pub fn duplicate_pairs(entries: &[DedupeEntry], only_with: Option<&HashSet<i64>>) -> Vec<DuplicatePair> {
    // (key, id, source, exact value): sorting brings each key's members together, oldest first.
    let mut keyed: Vec<(String, i64, Source, String)> = Vec::with_capacity(entries.len() * 2);
    for e in entries {
        if let Some(phone) = e.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            let d = digits(phone);
            if !d.is_empty() {
                keyed.push((format!("n{}", number_key(&d)), e.id, Source::Phone, d));
            }
        }
        for wa in &e.wa_ids {
            keyed.push((format!("n{}", number_key(wa)), e.id, Source::WhatsApp, wa.clone()));
        }
        if let Some(email) = e.email.as_deref().map(|m| m.trim().to_lowercase()).filter(|m| !m.is_empty()) {
            keyed.push((format!("e{email}"), e.id, Source::Email, email));
        }
    }
    keyed.sort_unstable();
    let mut pairs: Vec<DuplicatePair> = Vec::new();
    let mut start = 0;
    while start < keyed.len() {
        let mut end = start + 1;
        while end < keyed.len() && keyed[end].0 == keyed[start].0 {
            end += 1;
        }
        let group = &keyed[start..end];
        let anchor = group[0].1;
        let anchor_members: Vec<_> = group.iter().filter(|m| m.1 == anchor).collect();
        for member in group.iter().filter(|m| m.1 != anchor) {
            if let Some(only) = only_with
                && !only.contains(&anchor)
                && !only.contains(&member.1)
            {
                continue;
            }
            let reason = anchor_members
                .iter()
                .map(|a| match (a.2, member.2) {
                    (Source::Email, _) => DuplicateReason::SameEmail,
                    (Source::Phone, Source::Phone) if a.3 == member.3 => DuplicateReason::SamePhone,
                    (Source::Phone, Source::Phone) => DuplicateReason::PhoneVariant,
                    _ => DuplicateReason::SameWhatsappId,
                })
                .min()
                .unwrap_or(DuplicateReason::SamePhone);
            let key = &group[0].0;
            let matched = match key.strip_prefix('e') {
                Some(email) => email.to_owned(),
                None => format!("+{}", &key[1..]),
            };
            pairs.push(DuplicatePair { a: anchor, b: member.1, reason, matched });
        }
        start = end;
    }
    // One pair per couple of contacts: the strongest reason.
    pairs.sort_unstable_by_key(|p| (p.a, p.b, p.reason));
    pairs.dedup_by(|later, first| (later.a, later.b) == (first.a, first.b));
    pairs
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
