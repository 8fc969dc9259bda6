//! What an API caller asks to send, checked against WhatsApp's field limits (spec/meta-cloud-api.md
//! §6.4–§6.9) and turned into typed [`Content`] — one message per attachment, in order.

use serde::Deserialize;
use serde_json::Value;

use crate::message::{Content, Media};
use crate::validation::Invalid;

pub const MAX_TEXT_CHARS: usize = 4096;
pub const MAX_CAPTION_CHARS: usize = 1024;
pub const MAX_ATTACHMENTS: usize = 10;

/// The body of `POST /api/v1/messages`, as the caller sent it. Content fields follow the Cloud
/// API shapes (`"text": {"body": "…"}`, `"image": {"id"|"link", "caption"}`, …).
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    pub channel_id: i64,
    /// A contact id, `phone:<number>` or `email:<address>`.
    pub to: String,
    /// `text`, `image`, `audio`, `video`, `document`, `sticker`, `location`, `contacts`,
    /// `interactive`, `reaction` or `template`. Optional when only `attachments` are sent.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub text: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub image: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub audio: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub video: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub document: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub sticker: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub location: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub contacts: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub interactive: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub reaction: Option<Value>,
    /// `{"name", "language": {"code"}, "components": [...]}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub template: Option<Value>,
    /// `{"message_id": "<provider id of the message replied to>"}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Value>,
    /// More media, each sent as its own message after the first, in order:
    /// `[{"type": "image", "id"|"link", "caption"?, "filename"?}]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub attachments: Option<Vec<Value>>,
    /// Makes retries safe: the same request under the same key (keys are per user) returns
    /// the messages already queued; a different request under it is refused (409
    /// `idempotency_key_reused`).
    pub idempotency_key: Option<String>,
}

/// A validated outbound message.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboundMessage {
    pub content: Content,
    /// The provider id of the message this one replies to.
    pub reply_to: Option<String>,
}

impl OutboundMessage {
    /// The template's name and language, for templates.
    pub fn template(&self) -> Option<(&str, &str)> {
        match &self.content {
            Content::Template { name, language, .. } => Some((name, language)),
            _ => None,
        }
    }
}

fn bad(field: &str, message: impl Into<String>) -> Invalid {
    Invalid::new("invalid_message", Some(field.to_owned()), message)
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = chars(value);
    if n < min || n > max {
        return Err(bad(field, format!("must have {min} to {max} characters ({n} given)")));
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > 8 && !s.contains(char::is_whitespace)
}

impl SendInput {
    /// The messages this request sends, in order, or why it cannot.
    pub fn messages(&self) -> Result<Vec<OutboundMessage>, Invalid> {
        let reply_to = match &self.context {
            None => None,
            Some(c) => Some(
                str_at(c, "message_id")
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| bad("context.message_id", "is required"))?
                    .to_owned(),
            ),
        };
        let mut out = Vec::new();
        if let Some(kind) = &self.kind {
            let body = self.body_of(kind)?;
            out.push(OutboundMessage { content: content(kind, body, kind)?, reply_to: reply_to.clone() });
        }
        let attachments = self.attachments.as_deref().unwrap_or_default();
        if attachments.len() > MAX_ATTACHMENTS {
            return Err(bad("attachments", format!("at most {MAX_ATTACHMENTS} attachments")));
        }
        for (i, a) in attachments.iter().enumerate() {
            let field = format!("attachments[{i}]");
            let kind = str_at(a, "type").ok_or_else(|| bad(&format!("{field}.type"), "is required"))?;
            if !matches!(kind, "image" | "audio" | "video" | "document" | "sticker") {
                return Err(bad(
                    &format!("{field}.type"),
                    "an attachment is an image, audio, video, document or sticker",
                ));
            }
            out.push(OutboundMessage {
                content: content(kind, a, &field)?,
                reply_to: reply_to.clone().filter(|_| out.is_empty()),
            });
        }
        if out.is_empty() {
            return Err(bad("type", "say what to send: a type with its content, or attachments"));
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > 200)
        {
            return Err(bad("idempotency_key", "must have 1 to 200 characters"));
        }
        Ok(out)
    }

    fn body_of(&self, kind: &str) -> Result<&Value, Invalid> {
        let body = match kind {
            "text" => &self.text,
            "image" => &self.image,
            "audio" => &self.audio,
            "video" => &self.video,
            "document" => &self.document,
            "sticker" => &self.sticker,
            "location" => &self.location,
            "contacts" => &self.contacts,
            "interactive" => &self.interactive,
            "reaction" => &self.reaction,
            "template" => &self.template,
            other => return Err(bad("type", format!("unknown message type {other:?}"))),
        };
        body.as_ref().ok_or_else(|| bad(kind, format!("type {kind:?} needs a {kind:?} object")))
    }
}

/// Validates one message body of type `kind` (the Cloud API's shape, as in `SendInput`).
pub fn content_of(kind: &str, v: &Value) -> Result<Content, Invalid> {
    content(kind, v, kind)
}

/// Validates one message body of type `kind`.
fn content(kind: &str, v: &Value, field: &str) -> Result<Content, Invalid> {
    match kind {
        "text" => {
            let body = str_at(v, "body").ok_or_else(|| bad(&format!("{field}.body"), "is required"))?;
            check_len(&format!("{field}.body"), body, 1, MAX_TEXT_CHARS)?;
            Ok(Content::Text { body: body.to_owned(), preview_url: v.get("preview_url").and_then(Value::as_bool) })
        }
        "image" | "audio" | "video" | "document" | "sticker" => media(kind, v, field),
        "location" => {
            let coord = |key: &str, limit: f64| {
                v.get(key)
                    .and_then(Value::as_f64)
                    .filter(|x| x.abs() <= limit)
                    .ok_or_else(|| bad(&format!("{field}.{key}"), format!("a number between -{limit} and {limit}")))
            };
            Ok(Content::Location {
                latitude: coord("latitude", 90.0)?,
                longitude: coord("longitude", 180.0)?,
                name: str_at(v, "name").map(str::to_owned),
                address: str_at(v, "address").map(str::to_owned),
                url: None,
            })
        }
        "contacts" => {
            let list = v
                .as_array()
                .filter(|a| !a.is_empty() && a.len() <= 20)
                .ok_or_else(|| bad(field, "1 to 20 contact cards"))?;
            for (i, c) in list.iter().enumerate() {
                if c.pointer("/name/formatted_name").and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(bad(&format!("{field}[{i}].name.formatted_name"), "is required"));
                }
            }
            Ok(Content::Contacts { contacts: list.clone() })
        }
        "interactive" => interactive(v, field),
        "reaction" => {
            let message_id = str_at(v, "message_id")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad(&format!("{field}.message_id"), "is required"))?;
            let emoji = str_at(v, "emoji").unwrap_or_default();
            if chars(emoji) > 10 {
                return Err(bad(&format!("{field}.emoji"), "one emoji, or empty to remove the reaction"));
            }
            Ok(Content::Reaction {
                message_id: message_id.to_owned(),
                emoji: (!emoji.is_empty()).then(|| emoji.to_owned()),
            })
        }
        "template" => {
            let name = str_at(v, "name").unwrap_or_default();
            if name.is_empty()
                || name.len() > 512
                || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(bad(&format!("{field}.name"), "a template name is lowercase letters, digits and _"));
            }
            let language =
                v.pointer("/language/code").or_else(|| v.get("language")).and_then(Value::as_str).unwrap_or_default();
            if language.is_empty()
                || language.len() > 16
                || !language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
            {
                return Err(bad(&format!("{field}.language.code"), "a language code such as en, pt_BR"));
            }
            let components = match v.get("components") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => return Err(bad(&format!("{field}.components"), "must be an array")),
            };
            Ok(Content::Template { name: name.to_owned(), language: language.to_owned(), components })
        }
        other => Err(bad("type", format!("unknown message type {other:?}"))),
    }
}

fn media(kind: &str, v: &Value, field: &str) -> Result<Content, Invalid> {
    let id = str_at(v, "id").filter(|s| !s.is_empty());
    let link = str_at(v, "link").filter(|s| !s.is_empty());
    match (id, link) {
        (Some(_), Some(_)) | (None, None) => return Err(bad(field, "give either an uploaded media id or a link")),
        (None, Some(l)) if !is_http_url(l) => return Err(bad(&format!("{field}.link"), "must be an http(s) URL")),
        _ => {}
    }
    let caption = str_at(v, "caption");
    if let Some(c) = caption {
        if matches!(kind, "audio" | "sticker") {
            return Err(bad(&format!("{field}.caption"), format!("{kind} messages have no caption")));
        }
        check_len(&format!("{field}.caption"), c, 0, MAX_CAPTION_CHARS)?;
    }
    let filename = str_at(v, "filename");
    if let Some(f) = filename {
        if kind != "document" {
            return Err(bad(&format!("{field}.filename"), "only documents have a file name"));
        }
        check_len(&format!("{field}.filename"), f, 1, 240)?;
    }
    let m = Media {
        id: id.map(str::to_owned),
        link: link.map(str::to_owned),
        caption: caption.map(str::to_owned),
        filename: filename.map(str::to_owned),
        voice: kind == "audio" && v.get("voice").and_then(Value::as_bool).unwrap_or(false),
        ..Media::default()
    };
    Ok(match kind {
        "image" => Content::Image(m),
        "audio" => Content::Audio(m),
        "video" => Content::Video(m),
        "document" => Content::Document(m),
        _ => Content::Sticker(m),
    })
}

/// Interactive messages: reply buttons, lists and call-to-action URLs, with Meta's limits.
fn interactive(v: &Value, field: &str) -> Result<Content, Invalid> {
    let kind = str_at(v, "type").unwrap_or_default();
    let body = v
        .pointer("/body/text")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&format!("{field}.body.text"), "is required"))?;
    if let Some(footer) = v.pointer("/footer/text").and_then(Value::as_str) {
        check_len(&format!("{field}.footer.text"), footer, 1, 60)?;
    }
    if let Some(header) = v.get("header") {
        match str_at(header, "type") {
            Some("text") => {
                check_len(&format!("{field}.header.text"), str_at(header, "text").unwrap_or_default(), 1, 60)?
            }
            Some("image" | "video" | "document") if kind != "list" => {}
            _ => {
                return Err(bad(
                    &format!("{field}.header.type"),
                    "a header is text (lists), or text, image, video or document",
                ));
            }
        }
    }
    let action = v.get("action").ok_or_else(|| bad(&format!("{field}.action"), "is required"))?;
    match kind {
        "button" => {
            check_len(&format!("{field}.body.text"), body, 1, 1024)?;
            let buttons = action.get("buttons").and_then(Value::as_array).filter(|b| (1..=3).contains(&b.len()));
            let buttons = buttons.ok_or_else(|| bad(&format!("{field}.action.buttons"), "1 to 3 reply buttons"))?;
            let (mut ids, mut titles) = (Vec::new(), Vec::new());
            for (i, b) in buttons.iter().enumerate() {
                let at = format!("{field}.action.buttons[{i}]");
                let id = b.pointer("/reply/id").and_then(Value::as_str).unwrap_or_default();
                let title = b.pointer("/reply/title").and_then(Value::as_str).unwrap_or_default();
                check_len(&format!("{at}.reply.id"), id, 1, 256)?;
                check_len(&format!("{at}.reply.title"), title, 1, 20)?;
                if id.trim() != id {
                    return Err(bad(&format!("{at}.reply.id"), "must not start or end with spaces"));
                }
                if ids.contains(&id) || titles.contains(&title) {
                    return Err(bad(&at, "button ids and titles must be unique"));
                }
                ids.push(id);
                titles.push(title);
            }
        }
        "list" => {
            check_len(&format!("{field}.body.text"), body, 1, 4096)?;
            check_len(&format!("{field}.action.button"), str_at(action, "button").unwrap_or_default(), 1, 20)?;
            let sections = action.get("sections").and_then(Value::as_array).filter(|s| (1..=10).contains(&s.len()));
            let sections = sections.ok_or_else(|| bad(&format!("{field}.action.sections"), "1 to 10 sections"))?;
            let mut rows = 0;
            for (i, s) in sections.iter().enumerate() {
                let at = format!("{field}.action.sections[{i}]");
                match str_at(s, "title") {
                    Some(t) => check_len(&format!("{at}.title"), t, 1, 24)?,
                    None if sections.len() > 1 => {
                        return Err(bad(&format!("{at}.title"), "needed when there are several sections"));
                    }
                    None => {}
                }
                for (j, r) in s.get("rows").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    rows += 1;
                    let at = format!("{at}.rows[{j}]");
                    check_len(&format!("{at}.id"), str_at(r, "id").unwrap_or_default(), 1, 200)?;
                    check_len(&format!("{at}.title"), str_at(r, "title").unwrap_or_default(), 1, 24)?;
                    if let Some(d) = str_at(r, "description") {
                        check_len(&format!("{at}.description"), d, 0, 72)?;
                    }
                }
            }
            if !(1..=10).contains(&rows) {
                return Err(bad(&format!("{field}.action.sections"), "1 to 10 rows in all"));
            }
        }
        "cta_url" => {
            check_len(&format!("{field}.body.text"), body, 1, 1024)?;
            let params =
                action.get("parameters").ok_or_else(|| bad(&format!("{field}.action.parameters"), "is required"))?;
            check_len(
                &format!("{field}.action.parameters.display_text"),
                str_at(params, "display_text").unwrap_or_default(),
                1,
                20,
            )?;
            if !str_at(params, "url").is_some_and(is_http_url) {
                return Err(bad(&format!("{field}.action.parameters.url"), "must be an http(s) URL"));
            }
        }
        _ => return Err(bad(&format!("{field}.type"), "interactive messages are button, list or cta_url")),
    }
    Ok(Content::InteractiveMessage { interactive: v.clone() })
}

#[cfg(test)]
mod tests;
