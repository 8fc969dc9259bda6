//! Contacts: who a business talks to, their identifiers (phone, email), custom fields, tags and
//! notes (PRODUCT.md §2). Input arrives as loose strings ([`ContactInput`], [`ContactPatchInput`])
//! and leaves this module validated ([`NewContact`], [`ContactPatch`]) or as an [`Invalid`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::email::Email;
use crate::ids::{ContactId, NoteId, UserId, WorkspaceId};
use crate::phone::{E164, Region, normalize};
use crate::time::Timestamp;
use crate::validation::Invalid;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_FIELDS: usize = 100;
pub const MAX_FIELD_KEY_CHARS: usize = 64;
pub const MAX_FIELD_VALUE_CHARS: usize = 2000;
pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_NOTE_CHARS: usize = 10_000;

/// A contact as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: ContactId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub name: Option<String>,
    /// E.164, e.g. `+33612345678`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "+33612345678"))]
    pub phone: Option<E164>,
    /// Lowercase.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "ana@example.com"))]
    pub email: Option<Email>,
    /// A stored phone that could not be made valid (`parley contacts normalize`), kept as found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_phone: Option<String>,
    /// A stored email that could not be made valid, kept as found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_email: Option<String>,
    /// Custom fields: keys are `snake_case`, values are strings, numbers or booleans.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub fields: Map<String, Value>,
    /// Lowercase, sorted.
    pub tags: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl Contact {
    /// Takes in what a merged-away contact holds: the values of `self` win, `other` fills the
    /// name, phone, email and custom fields `self` lacks; tags are the union. Answers the
    /// values filled; refused when together they hold more than [`MAX_FIELDS`] custom fields.
    pub fn absorb(&mut self, other: &Contact) -> Result<Vec<&'static str>, Invalid> {
        let mut filled = Vec::new();
        if self.name.is_none() && other.name.is_some() {
            self.name.clone_from(&other.name);
            filled.push("name");
        }
        if self.phone.is_none() && other.phone.is_some() {
            self.phone.clone_from(&other.phone);
            filled.push("phone");
        }
        if self.email.is_none() && other.email.is_some() {
            self.email.clone_from(&other.email);
            filled.push("email");
        }
        let mut fields = self.fields.clone();
        for (key, value) in &other.fields {
            fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
        if fields.len() > MAX_FIELDS {
            return Err(Invalid::new(
                "too_many_fields",
                Some("fields".to_owned()),
                format!(
                    "together the two contacts have {} custom fields, more than {MAX_FIELDS}: remove some first",
                    fields.len()
                ),
            ));
        }
        self.fields = fields;
        let tags: std::collections::BTreeSet<String> = self.tags.iter().chain(&other.tags).cloned().collect();
        self.tags = tags.into_iter().collect();
        Ok(filled)
    }
}

/// The body of "create a contact", as the caller sent it.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    /// Any format with a country code: `+33 6 12 34 56 78`, `0033612345678`, `33612345678`.
    pub phone: Option<String>,
    pub email: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub fields: Option<Map<String, Value>>,
    pub tags: Option<Vec<String>>,
}

/// A validated new contact.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewContact {
    pub name: Option<String>,
    pub phone: Option<E164>,
    pub email: Option<Email>,
    pub fields: Map<String, Value>,
    pub tags: Vec<String>,
}

impl NewContact {
    /// Validates `input`; `region` is the workspace's default region for national numbers.
    pub fn from_input(input: ContactInput, region: Option<Region>) -> Result<Self, Invalid> {
        let contact = NewContact {
            name: input.name.as_deref().map(check_contact_name).transpose()?.flatten(),
            phone: input.phone.as_deref().map(|p| check_phone("phone", p, region)).transpose()?,
            email: input.email.as_deref().map(|e| check_email("email", e)).transpose()?,
            fields: check_fields(input.fields.unwrap_or_default())?,
            tags: check_tags(input.tags.unwrap_or_default())?,
        };
        if contact.name.is_none() && contact.phone.is_none() && contact.email.is_none() {
            return Err(Invalid::new("invalid_request", None, "a contact needs at least a name, a phone or an email"));
        }
        Ok(contact)
    }
}

/// The body of "update a contact": absent fields stay as they are, `null` clears a value.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactPatchInput {
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub email: Option<Option<String>>,
    /// Merged into the existing fields; a `null` value removes that field.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub fields: Option<Map<String, Value>>,
    /// Replaces the contact's tags.
    pub tags: Option<Vec<String>>,
}

/// A validated change to a contact.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContactPatch {
    pub name: Option<Option<String>>,
    pub phone: Option<Option<E164>>,
    pub email: Option<Option<Email>>,
    /// Fields to set (`Some`) or remove (`None`).
    pub fields: Vec<(String, Option<Value>)>,
    pub tags: Option<Vec<String>>,
    /// Tags to add and to remove after `tags` is applied (the tag endpoints use these).
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl ContactPatch {
    pub fn from_input(input: ContactPatchInput, region: Option<Region>) -> Result<Self, Invalid> {
        let name = match input.name {
            None => None,
            Some(None) => Some(None),
            Some(Some(n)) => Some(check_contact_name(&n)?),
        };
        let phone = match input.phone {
            None => None,
            Some(p) => Some(p.as_deref().map(|p| check_phone("phone", p, region)).transpose()?),
        };
        let email = match input.email {
            None => None,
            Some(e) => Some(e.as_deref().map(|e| check_email("email", e)).transpose()?),
        };
        let mut fields = Vec::new();
        if let Some(map) = input.fields {
            if map.len() > MAX_FIELDS {
                return Err(Invalid::request("fields", format!("at most {MAX_FIELDS} fields")));
            }
            for (key, value) in map {
                let key = check_field_key(&key)?;
                let value = if value.is_null() { None } else { Some(check_field_value(&key, value)?) };
                fields.push((key, value));
            }
        }
        let tags = input.tags.map(check_tags).transpose()?;
        Ok(ContactPatch { name, phone, email, fields, tags, ..ContactPatch::default() })
    }

    /// Applies the patch to `contact` in memory (the store persists the result). Fails when the
    /// contact would be left with neither name, phone nor email, or with too many fields.
    pub fn apply(&self, contact: &mut Contact) -> Result<(), Invalid> {
        if let Some(name) = &self.name {
            contact.name.clone_from(name);
        }
        // A phone or email given now replaces the one re-cleaning could not make valid.
        if let Some(phone) = &self.phone {
            contact.phone.clone_from(phone);
            contact.invalid_phone = None;
        }
        if let Some(email) = &self.email {
            contact.email.clone_from(email);
            contact.invalid_email = None;
        }
        for (key, value) in &self.fields {
            match value {
                Some(v) => contact.fields.insert(key.clone(), v.clone()),
                None => contact.fields.remove(key),
            };
        }
        if contact.fields.len() > MAX_FIELDS {
            return Err(Invalid::request("fields", format!("at most {MAX_FIELDS} fields")));
        }
        if let Some(tags) = &self.tags {
            contact.tags.clone_from(tags);
        }
        if !self.add_tags.is_empty() || !self.remove_tags.is_empty() {
            let mut set: BTreeSet<String> = contact.tags.drain(..).collect();
            set.extend(self.add_tags.iter().cloned());
            for tag in &self.remove_tags {
                set.remove(tag);
            }
            if set.len() > MAX_TAGS {
                return Err(Invalid::request("tags", format!("at most {MAX_TAGS} tags")));
            }
            contact.tags = set.into_iter().collect();
        }
        if contact.name.is_none() && contact.phone.is_none() && contact.email.is_none() {
            return Err(Invalid::new("invalid_request", None, "a contact needs at least a name, a phone or an email"));
        }
        Ok(())
    }
}

/// How an API caller names a contact: its id, `phone:<any format>` or `email:<any case>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactRef {
    Id(ContactId),
    Phone(E164),
    Email(Email),
}

impl ContactRef {
    pub fn parse(s: &str, region: Option<Region>) -> Result<Self, Invalid> {
        if let Some(phone) = s.strip_prefix("phone:") {
            return check_phone("ref", phone, region).map(ContactRef::Phone);
        }
        if let Some(email) = s.strip_prefix("email:") {
            return check_email("ref", email).map(ContactRef::Email);
        }
        match s.parse::<i64>() {
            Ok(id) if id > 0 => Ok(ContactRef::Id(ContactId(id))),
            _ => Err(Invalid::request("ref", "a contact reference is an id, phone:<number> or email:<address>")),
        }
    }
}

/// An internal comment on a contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Note {
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub id: NoteId,
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub contact_id: ContactId,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub author_id: Option<UserId>,
    pub body: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A note's body: trimmed, not empty, at most [`MAX_NOTE_CHARS`].
pub fn check_note(body: &str) -> Result<String, Invalid> {
    let body = body.trim();
    if body.is_empty() {
        return Err(Invalid::request("body", "a note must not be empty"));
    }
    if body.chars().count() > MAX_NOTE_CHARS {
        return Err(Invalid::request("body", format!("a note is at most {MAX_NOTE_CHARS} characters")));
    }
    Ok(body.to_owned())
}

pub fn check_phone(field: &str, input: &str, region: Option<Region>) -> Result<E164, Invalid> {
    normalize(input, region).map_err(|e| Invalid::new("invalid_phone", Some(field.to_owned()), e.to_string()))
}

pub fn check_email(field: &str, input: &str) -> Result<Email, Invalid> {
    Email::parse(input).map_err(|e| Invalid::new("invalid_email", Some(field.to_owned()), e.to_string()))
}

/// A name is trimmed; an empty one means "no name".
fn check_contact_name(name: &str) -> Result<Option<String>, Invalid> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::request("name", format!("a name is at most {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::request("name", "a name must not contain control characters"));
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

/// Custom field keys are `snake_case`: a lowercase letter, then lowercase letters, digits or `_`.
pub fn check_field_key(key: &str) -> Result<String, Invalid> {
    let mut chars = key.chars();
    let good = key.len() <= MAX_FIELD_KEY_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if good {
        Ok(key.to_owned())
    } else {
        Err(Invalid::request(
            &format!("fields.{key}"),
            format!(
                "a field name is a lowercase letter followed by lowercase letters, digits or _ (at most {MAX_FIELD_KEY_CHARS})"
            ),
        ))
    }
}

fn check_field_value(key: &str, value: Value) -> Result<Value, Invalid> {
    match &value {
        Value::String(s) if s.chars().count() > MAX_FIELD_VALUE_CHARS => Err(Invalid::request(
            &format!("fields.{key}"),
            format!("a field value is at most {MAX_FIELD_VALUE_CHARS} characters"),
        )),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(value),
        _ => Err(Invalid::request(&format!("fields.{key}"), "a field value is a string, a number or a boolean")),
    }
}

fn check_fields(map: Map<String, Value>) -> Result<Map<String, Value>, Invalid> {
    if map.len() > MAX_FIELDS {
        return Err(Invalid::request("fields", format!("at most {MAX_FIELDS} fields")));
    }
    let mut out = Map::new();
    for (key, value) in map {
        let key = check_field_key(&key)?;
        if value.is_null() {
            continue;
        }
        let value = check_field_value(&key, value)?;
        out.insert(key, value);
    }
    Ok(out)
}

/// Tags are case-insensitive: trimmed, lowercased, deduplicated and sorted. No commas (CSV files
/// list tags separated by commas) and no control characters.
pub fn check_tags(tags: Vec<String>) -> Result<Vec<String>, Invalid> {
    if tags.len() > MAX_TAGS {
        return Err(Invalid::request("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut set = BTreeSet::new();
    for tag in tags {
        set.insert(check_tag(&tag)?);
    }
    Ok(set.into_iter().collect())
}

pub fn check_tag(tag: &str) -> Result<String, Invalid> {
    let tag = tag.trim().to_lowercase();
    if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
        return Err(Invalid::request("tags", format!("a tag has 1 to {MAX_TAG_CHARS} characters")));
    }
    if tag.contains(',') || tag.chars().any(char::is_control) {
        return Err(Invalid::request("tags", "a tag must not contain commas or control characters"));
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> ContactInput {
        serde_json::from_value(v).unwrap()
    }

    fn contact(v: Value) -> Contact {
        let n = NewContact::from_input(input(v), None).unwrap();
        Contact {
            id: ContactId(1),
            workspace_id: WorkspaceId(1),
            name: n.name,
            phone: n.phone,
            email: n.email,
            invalid_phone: None,
            invalid_email: None,
            fields: n.fields,
            tags: n.tags,
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        }
    }

    #[test]
    fn absorbing_keeps_our_values_and_fills_the_gaps() {
        let mut primary = contact(json!({"name": "Ana", "fields": {"plan": "gold"}, "tags": ["vip"]}));
        let secondary = contact(json!({"name": "A. Silva", "phone": "+33612345678", "email": "ana@x.com",
            "fields": {"plan": "free", "city": "Lyon"}, "tags": ["lead", "vip"]}));
        let filled = primary.absorb(&secondary).unwrap();
        assert_eq!(filled, vec!["phone", "email"]);
        assert_eq!(primary.name.as_deref(), Some("Ana"));
        assert_eq!(primary.phone.unwrap().as_str(), "+33612345678");
        assert_eq!(primary.fields, json!({"plan": "gold", "city": "Lyon"}).as_object().unwrap().clone());
        assert_eq!(primary.tags, vec!["lead", "vip"]);
    }

    #[test]
    fn absorbing_past_the_field_limit_changes_nothing() {
        let many = |prefix: &str| {
            let fields: Map<String, Value> = (0..60).map(|i| (format!("{prefix}_{i}"), json!(i))).collect();
            contact(json!({"name": prefix, "fields": fields}))
        };
        let (mut primary, secondary) = (many("a"), many("b"));
        let before = primary.clone();
        assert_eq!(primary.absorb(&secondary).unwrap_err().code, "too_many_fields");
        assert_eq!(primary, before);
    }

    #[test]
    fn new_contact_is_normalized() {
        let c = NewContact::from_input(
            input(json!({"name": " Ana ", "phone": "0033 6 12 34 56 78", "email": "Ana@X.com", "fields": {"plan": "gold", "gone": null}, "tags": ["VIP", "vip ", "lead"]})),
            None,
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("Ana"));
        assert_eq!(c.phone.unwrap().as_str(), "+33612345678");
        assert_eq!(c.email.unwrap().as_str(), "ana@x.com");
        assert_eq!(c.fields, json!({"plan": "gold"}).as_object().unwrap().clone());
        assert_eq!(c.tags, vec!["lead", "vip"]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = NewContact::from_input(input(json!({"phone": "12"})), None).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("invalid_phone", Some("phone")));
        let e = NewContact::from_input(input(json!({"email": "nope"})), None).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("invalid_email", Some("email")));
        let e = NewContact::from_input(input(json!({"name": "A", "fields": {"Bad Key": 1}})), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("fields.Bad Key"));
        let e = NewContact::from_input(input(json!({"name": "A", "fields": {"nested": {"a": 1}}})), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("fields.nested"));
        let e = NewContact::from_input(input(json!({"name": "A", "tags": ["a,b"]})), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("tags"));
    }

    #[test]
    fn empty_contact_is_refused() {
        assert!(NewContact::from_input(input(json!({})), None).is_err());
        assert!(NewContact::from_input(input(json!({"name": "   "})), None).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<ContactInput>(json!({"name": "A", "nickname": "B"})).is_err());
        assert!(serde_json::from_value::<ContactPatchInput>(json!({"nickname": "B"})).is_err());
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let p: ContactPatchInput =
            serde_json::from_value(json!({"email": null, "fields": {"a": 1, "b": null}})).unwrap();
        let p = ContactPatch::from_input(p, None).unwrap();
        assert_eq!(p.name, None);
        assert_eq!(p.email, Some(None));
        assert_eq!(p.fields, vec![("a".into(), Some(json!(1))), ("b".into(), None)]);
    }

    #[test]
    fn patch_cannot_empty_a_contact() {
        let mut c = Contact {
            id: ContactId(1),
            workspace_id: WorkspaceId(1),
            name: None,
            phone: Some(E164::parse("+33612345678").unwrap()),
            email: None,
            invalid_phone: None,
            invalid_email: None,
            fields: Map::new(),
            tags: vec![],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        };
        let p = ContactPatch::from_input(serde_json::from_value(json!({"phone": null})).unwrap(), None).unwrap();
        assert!(p.apply(&mut c).is_err());
    }

    #[test]
    fn tag_changes_merge() {
        let mut c = Contact {
            id: ContactId(1),
            workspace_id: WorkspaceId(1),
            name: Some("A".into()),
            phone: None,
            email: None,
            invalid_phone: None,
            invalid_email: None,
            fields: Map::new(),
            tags: vec!["a".into(), "b".into()],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
        };
        let p = ContactPatch {
            add_tags: vec!["c".into(), "a".into()],
            remove_tags: vec!["b".into()],
            ..Default::default()
        };
        p.apply(&mut c).unwrap();
        assert_eq!(c.tags, vec!["a", "c"]);
    }

    #[test]
    fn refs() {
        assert_eq!(ContactRef::parse("42", None).unwrap(), ContactRef::Id(ContactId(42)));
        assert_eq!(
            ContactRef::parse("phone:0033 6 12 34 56 78", None).unwrap(),
            ContactRef::Phone(E164::parse("+33612345678").unwrap())
        );
        assert_eq!(
            ContactRef::parse("email:ANA@x.com", None).unwrap(),
            ContactRef::Email(Email::parse("ana@x.com").unwrap())
        );
        assert!(ContactRef::parse("0", None).is_err());
        assert!(ContactRef::parse("ana", None).is_err());
        assert_eq!(ContactRef::parse("phone:abc", None).unwrap_err().code, "invalid_phone");
    }

    #[test]
    fn notes() {
        assert_eq!(check_note("  hi ").unwrap(), "hi");
        assert!(check_note(" ").is_err());
        assert!(check_note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
    }
}
