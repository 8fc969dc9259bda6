//! The check a webhook passes before it is acknowledged and journaled (`parley-server`'s
//! `journal.rs`): it refuses exactly the bodies [`parse`](super::parse) refuses, so a malformed
//! webhook is still answered 400 and stored nowhere, without building any event. It reads the
//! whole body as JSON (numbers and strings checked as `serde_json::Value` checks them) but keeps
//! nothing: a 100-message body takes a tenth of a full parse.
//!
//! What `parse` refuses: a body that is not JSON, that is not an object, whose last `object` key
//! is not `"whatsapp_business_account"`, whose last `entry` key is not an array, or one of whose
//! entries (object) has a last `changes` array holding a change (object) whose last `field` is a
//! string but not a field name. Keys may repeat in JSON; like `Value`, the last one counts.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{WebhookError, is_field_name};

/// Refuses what [`parse`](super::parse) refuses, with the same error variant.
pub fn check(body: &[u8]) -> Result<(), WebhookError> {
    let root: Root = serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    if !root.is_object {
        return Err(WebhookError::NotAWebhook("the body is not a JSON object"));
    }
    if !root.object_is_waba {
        return Err(WebhookError::NotAWebhook("`object` is not `whatsapp_business_account`"));
    }
    match root.entry {
        Some(Entries::Array { bad_field: false }) => Ok(()),
        Some(Entries::Array { bad_field: true }) => {
            Err(WebhookError::NotAWebhook("a change's `field` is not a field name"))
        }
        _ => Err(WebhookError::NotAWebhook("`entry` is not an array")),
    }
}

/// What a JSON value is, as far as the check needs: nothing is kept but these flags.
#[derive(Default)]
struct Root {
    is_object: bool,
    object_is_waba: bool,
    entry: Option<Entries>,
}

enum Entries {
    NotArray,
    Array { bad_field: bool },
}

/// Which part of a webhook a value is, and so what the walk notes about it.
#[derive(Clone, Copy)]
enum Part {
    Root,
    /// The root's `object`.
    Object,
    /// The root's `entry`.
    Entries,
    Entry,
    /// An entry's `changes`.
    Changes,
    Change,
    /// A change's `field`.
    Field,
    /// Anything else: checked as JSON, nothing noted.
    Other,
}

/// What the walk of one value found.
#[derive(Default)]
struct Found {
    is_seq: bool,
    /// A string, and (for `object`) whether it is `whatsapp_business_account`.
    is_waba_string: bool,
    /// For `field`: a string that is not a field name. For the rest: one was found inside.
    bad_field: bool,
    /// For the root: what it holds.
    root: Option<Box<Root>>,
}

struct Walk(Part);

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Found;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found, D::Error> {
        d.deserialize_any(self)
    }
}

impl Walk {
    fn string(self, s: &str) -> Found {
        match self.0 {
            Part::Object => Found { is_waba_string: s == "whatsapp_business_account", ..Found::default() },
            Part::Field => Found { bad_field: !is_field_name(s), ..Found::default() },
            _ => Found::default(),
        }
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_none<E>(self) -> Result<Found, E> {
        Ok(Found::default())
    }
    fn visit_str<E>(self, s: &str) -> Result<Found, E> {
        Ok(self.string(s))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Found, E> {
        Ok(self.string(s))
    }
    fn visit_string<E>(self, s: String) -> Result<Found, E> {
        Ok(self.string(&s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        // The elements of `entry` are entries, of `changes` changes; a change whose `field` is
        // wrong counts only in those two places.
        let element = match self.0 {
            Part::Entries => Part::Entry,
            Part::Changes => Part::Change,
            _ => Part::Other,
        };
        let mut bad_field = false;
        while let Some(found) = seq.next_element_seed(Walk(element))? {
            bad_field |= found.bad_field && !matches!(element, Part::Other);
        }
        Ok(Found { is_seq: true, bad_field, ..Found::default() })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let mut root = Root { is_object: true, ..Root::default() };
        // The last `changes` of an entry, the last `field` of a change.
        let mut last_bad = false;
        while let Some(key) = map.next_key::<KeyName>()? {
            let part = match (self.0, key) {
                (Part::Root, KeyName::Object) => Part::Object,
                (Part::Root, KeyName::Entry) => Part::Entries,
                (Part::Entry, KeyName::Changes) => Part::Changes,
                (Part::Change, KeyName::Field) => Part::Field,
                _ => Part::Other,
            };
            let found = map.next_value_seed(Walk(part))?;
            match part {
                Part::Object => root.object_is_waba = found.is_waba_string,
                Part::Entries => {
                    root.entry = Some(if found.is_seq {
                        Entries::Array { bad_field: found.bad_field }
                    } else {
                        Entries::NotArray
                    })
                }
                // A `changes` that is not an array is skipped by `parse`: nothing bad in it.
                Part::Changes => last_bad = found.is_seq && found.bad_field,
                Part::Field => last_bad = found.bad_field,
                _ => {}
            }
        }
        let bad_field = matches!(self.0, Part::Entry | Part::Change) && last_bad;
        let root = matches!(self.0, Part::Root).then(|| Box::new(root));
        Ok(Found { bad_field, root, ..Found::default() })
    }
}

/// A key of an object: one of the four the check looks at, or another.
#[derive(Clone, Copy)]
enum KeyName {
    Object,
    Entry,
    Changes,
    Field,
    Other,
}

impl<'de> serde::Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, s: &str) -> Result<KeyName, E> {
                Ok(match s {
                    "object" => KeyName::Object,
                    "entry" => KeyName::Entry,
                    "changes" => KeyName::Changes,
                    "field" => KeyName::Field,
                    _ => KeyName::Other,
                })
            }
        }
        d.deserialize_str(Name)
    }
}

impl<'de> serde::Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let found = d.deserialize_any(Walk(Part::Root))?;
        Ok(found.root.map(|r| *r).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::parse;
    use super::*;

    /// The check and the parser refuse the same bodies, with the same error variant.
    fn agree(body: &[u8]) {
        let (checked, parsed) = (check(body), parse(body).map(|_| ()));
        let variant = |r: &Result<(), WebhookError>| match r {
            Ok(()) => "ok",
            Err(WebhookError::NotJson(_)) => "not json",
            Err(WebhookError::NotAWebhook(why)) => why,
        };
        assert_eq!(variant(&checked), variant(&parsed), "{}", String::from_utf8_lossy(body));
    }

    #[test]
    fn refuses_what_the_parser_refuses_and_nothing_else() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let deep_inside = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"field":"messages","value":{}1{}}}]}}]}}"#,
            "[".repeat(140),
            "]".repeat(140)
        );
        let bodies: Vec<&[u8]> = vec![
            br#"{"object":"whatsapp_business_account","entry":[]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{}}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"Bad Field"}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"bad\nfield"}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":7}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"Bad","field":"ok"}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"ok","field":"Bad"}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"Bad"}],"changes":[]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":{"field":"Bad"}}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"field":"Bad"}}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[[{"changes":[{"field":"Bad"}]}]]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[[{"field":"Bad"}]]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"Bad"}]}],"entry":[]}"#,
            br#"{"object":"whatsapp_business_account","entry":[],"entry":{}}"#,
            br#"{"object":"whatsapp_business_account","object":"page","entry":[]}"#,
            br#"{"object":"page","object":"whatsapp_business_account","entry":[]}"#,
            br#"{"object":"whatsapp_business_account"}"#,
            br#"{"entry":[]}"#,
            br#"{"object":["whatsapp_business_account"],"entry":[]}"#,
            br#"{"object":"whatsapp_business_\u0061ccount","entry":[]}"#,
            br#"{"obj\u0065ct":"whatsapp_business_account","entry":[]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"n":1e400}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"n":-0.5e-400}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"s":"\ud800"}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"s":"\x"}]}"#,
            b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"s\":\"\xff\"}]}",
            b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"s\":\"a\tb\"}]}",
            br#"{"object":"whatsapp_business_account","entry":[]} x"#,
            br#"{"object":"whatsapp_business_account","entry":[]}  "#,
            br#"{"object":"whatsapp_business_account","entry":[],}"#,
            br#"[]"#,
            br#""whatsapp_business_account""#,
            b"",
            b"null",
            deep.as_bytes(),
            deep_inside.as_bytes(),
        ];
        for body in bodies {
            agree(body);
        }
    }

    #[test]
    fn a_good_webhook_passes_and_a_bad_field_is_refused() {
        assert!(
            check(br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages"}]}]}"#).is_ok()
        );
        assert!(matches!(
            check(br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"x y"}]}]}"#),
            Err(WebhookError::NotAWebhook(_))
        ));
        assert!(matches!(check(b"{"), Err(WebhookError::NotJson(_))));
    }

    /// JSON values built from the keys and strings the check looks at, nested anywhere.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            prop::sample::select(vec!["whatsapp_business_account", "messages", "Bad Field", "", "x_1", "9a"])
                .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::vec(
                    (prop::sample::select(vec!["object", "entry", "changes", "field", "value", "id"]), inner),
                    0..4
                )
                .prop_map(|pairs| {
                    serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    /// Objects written with repeated keys (which `Value` cannot hold), as text.
    fn text(v: &serde_json::Value, repeat: bool) -> String {
        match v {
            serde_json::Value::Object(map) => {
                let mut parts: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}:{}", text(v, repeat))).collect();
                // The same key earlier with another value: the last one counts.
                if repeat && let Some(key) = map.keys().next() {
                    let shadowed = match key.as_str() {
                        "field" => r#""Bad Field""#,
                        "object" => r#""page""#,
                        _ => r#"[{"changes":[{"field":"Bad Field"}]}]"#,
                    };
                    parts.insert(0, format!("{key:?}:{shadowed}"));
                }
                format!("{{{}}}", parts.join(","))
            }
            serde_json::Value::Array(items) => {
                format!("[{}]", items.iter().map(|v| text(v, repeat)).collect::<Vec<_>>().join(","))
            }
            other => other.to_string(),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_parser_on_any_shape(
            entries in prop::collection::vec(value(), 0..4),
            object in prop::sample::select(vec!["whatsapp_business_account", "page"]),
            repeat: bool,
        ) {
            let root = serde_json::json!({"object": object, "entry": entries});
            agree(text(&root, repeat).as_bytes());
        }

        #[test]
        fn agrees_with_the_parser_on_any_value(v in value(), repeat: bool) {
            agree(text(&v, repeat).as_bytes());
        }
    }
}
