//! The customer side: Meta-shaped JSON for every inbound message type (spec/meta-cloud-api.md
//! §3), so tests and the demo can make a customer write anything.

use serde_json::{Value, json};

/// Who writes. `wa_id: None` plays a user who hides their number behind a username (BSUID only).
#[derive(Clone, Debug)]
pub struct Customer {
    pub wa_id: Option<String>,
    pub bsuid: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
}

impl Customer {
    pub fn new(wa_id: &str, name: &str) -> Self {
        Customer { wa_id: Some(wa_id.to_owned()), bsuid: None, name: Some(name.to_owned()), username: None }
    }

    /// A 2026 user known only by BSUID and username.
    pub fn hidden(bsuid: &str, username: &str) -> Self {
        Customer { wa_id: None, bsuid: Some(bsuid.to_owned()), name: None, username: Some(username.to_owned()) }
    }

    pub fn with_bsuid(mut self, bsuid: &str) -> Self {
        self.bsuid = Some(bsuid.to_owned());
        self
    }

    /// The `contacts[]` entry of a webhook value.
    pub fn contact_json(&self) -> Value {
        let mut profile = json!({});
        if let Some(n) = &self.name {
            profile["name"] = json!(n);
        }
        if let Some(u) = &self.username {
            profile["username"] = json!(u);
        }
        let mut c = json!({"profile": profile});
        if let Some(w) = &self.wa_id {
            c["wa_id"] = json!(w);
        }
        if let Some(b) = &self.bsuid {
            c["user_id"] = json!(b);
        }
        c
    }
}

/// What the customer sends: the `type` and its object, plus optional context/referral.
#[derive(Clone, Debug, PartialEq)]
pub struct Say {
    pub kind: String,
    pub body: Value,
    pub context: Option<Value>,
    pub referral: Option<Value>,
    pub errors: Option<Value>,
}

impl Say {
    fn of(kind: &str, body: Value) -> Self {
        Say { kind: kind.to_owned(), body, context: None, referral: None, errors: None }
    }

    pub fn text(body: &str) -> Self {
        Say::of("text", json!({"body": body}))
    }

    /// `kind`: image, audio, video, document or sticker; `media_id` from `Sandbox::add_media`.
    pub fn media(kind: &str, media_id: &str, mime_type: &str) -> Self {
        let mut body = json!({"id": media_id, "mime_type": mime_type, "sha256": ""});
        match kind {
            "audio" => body["voice"] = json!(true),
            "sticker" => body["animated"] = json!(false),
            "document" => body["filename"] = json!("file.pdf"),
            _ => {}
        }
        Say::of(kind, body)
    }

    pub fn caption(mut self, caption: &str) -> Self {
        self.body["caption"] = json!(caption);
        self
    }

    /// A document's file name (`file.pdf` unless told).
    pub fn filename(mut self, filename: &str) -> Self {
        self.body["filename"] = json!(filename);
        self
    }

    pub fn location(latitude: f64, longitude: f64, name: &str) -> Self {
        Say::of("location", json!({"latitude": latitude, "longitude": longitude, "name": name, "address": "1 Main St"}))
    }

    pub fn contacts(name: &str, phone: &str) -> Self {
        Say::of(
            "contacts",
            json!([{"name": {"formatted_name": name, "first_name": name}, "phones": [{"phone": phone, "type": "CELL"}]}]),
        )
    }

    pub fn button_reply(id: &str, title: &str, replying_to: &str) -> Self {
        Say::of("interactive", json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}))
            .reply_to(replying_to)
    }

    pub fn list_reply(id: &str, title: &str, replying_to: &str) -> Self {
        Say::of(
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": id, "title": title, "description": "row"}}),
        )
        .reply_to(replying_to)
    }

    pub fn flow_reply(response: Value, replying_to: &str) -> Self {
        Say::of("interactive", json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": response.to_string()}}))
            .reply_to(replying_to)
    }

    /// A tap on a template's quick-reply button.
    pub fn template_button(text: &str, payload: &str, template_message: &str) -> Self {
        Say::of("button", json!({"text": text, "payload": payload})).reply_to(template_message)
    }

    /// `emoji: None` removes the reaction.
    pub fn reaction(message_id: &str, emoji: Option<&str>) -> Self {
        let mut body = json!({"message_id": message_id});
        if let Some(e) = emoji {
            body["emoji"] = json!(e);
        }
        Say::of("reaction", body)
    }

    pub fn order(catalog_id: &str, sku: &str, quantity: i64, price: f64) -> Self {
        Say::of(
            "order",
            json!({"catalog_id": catalog_id, "text": "my order", "product_items": [{"product_retailer_id": sku, "quantity": quantity, "item_price": price, "currency": "EUR"}]}),
        )
    }

    pub fn edit(original: &str, new_text: &str) -> Self {
        Say::of(
            "edit",
            json!({"original_message_id": original, "message": {"type": "text", "text": {"body": new_text}}}),
        )
    }

    pub fn revoke(original: &str) -> Self {
        Say::of("revoke", json!({"original_message_id": original}))
    }

    pub fn changed_number(old: &str, new: &str) -> Self {
        Say::of(
            "system",
            json!({"type": "user_changed_number", "body": format!("User changed from {old} to {new}"), "wa_id": new}),
        )
    }

    /// Something WhatsApp cannot show the business (a poll, say).
    pub fn unsupported(what: &str) -> Self {
        let mut s = Say::of("unsupported", json!({"type": what}));
        s.errors = Some(json!([{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."}}]));
        s
    }

    /// A type that does not exist (yet): the parser must keep it.
    pub fn unknown(kind: &str) -> Self {
        Say::of(kind, json!({"whatever": true}))
    }

    pub fn reply_to(mut self, message_id: &str) -> Self {
        self.context = Some(json!({"from": "15550001111", "id": message_id}));
        self
    }

    pub fn forwarded(mut self, frequently: bool) -> Self {
        self.context =
            Some(if frequently { json!({"frequently_forwarded": true}) } else { json!({"forwarded": true}) });
        self
    }

    /// As if the customer came from a click-to-WhatsApp ad.
    pub fn from_ad(mut self, ad_id: &str) -> Self {
        self.referral = Some(json!({"source_url": "https://fb.me/ad", "source_id": ad_id, "source_type": "ad",
            "body": "Summer sale", "headline": "50% off", "media_type": "image", "ctwa_clid": "CLID"}));
        self
    }

    /// The `messages[]` item.
    pub fn message_json(&self, customer: &Customer, id: &str, timestamp: i64) -> Value {
        let mut m = json!({"id": id, "timestamp": timestamp.to_string(), "type": self.kind});
        if let Some(w) = &customer.wa_id {
            m["from"] = json!(w);
        }
        if let Some(b) = &customer.bsuid {
            m["from_user_id"] = json!(b);
        }
        m[self.kind.as_str()] = self.body.clone();
        if let Some(c) = &self.context {
            m["context"] = c.clone();
        }
        if let Some(r) = &self.referral {
            m["referral"] = r.clone();
        }
        if let Some(e) = &self.errors {
            m["errors"] = e.clone();
        }
        m
    }
}

/// Every message type once, for tests that want them all.
pub fn every_type(media_id: &str, earlier_message: &str) -> Vec<Say> {
    vec![
        Say::text("hello"),
        Say::media("image", media_id, "image/jpeg").caption("a photo"),
        Say::media("audio", media_id, "audio/ogg; codecs=opus"),
        Say::media("video", media_id, "video/mp4"),
        Say::media("document", media_id, "application/pdf").caption("the invoice"),
        Say::media("sticker", media_id, "image/webp"),
        Say::location(48.8584, 2.2945, "Tour Eiffel"),
        Say::contacts("Bob", "+1 555 0100"),
        Say::button_reply("yes", "Yes", earlier_message),
        Say::list_reply("row-1", "Row one", earlier_message),
        Say::flow_reply(json!({"flow_token": "T", "size": "M"}), earlier_message),
        Say::template_button("Track my order", "TRACK:1", earlier_message),
        Say::reaction(earlier_message, Some("👍")),
        Say::reaction(earlier_message, None),
        Say::order("CAT1", "SKU-1", 2, 7.99),
        Say::text("from the ad").from_ad("AD-1"),
        Say::text("I agree").reply_to(earlier_message),
        Say::text("look at this").forwarded(true),
        Say::edit(earlier_message, "edited text"),
        Say::revoke(earlier_message),
        Say::unsupported("poll_creation"),
        Say::unknown("hologram"),
    ]
}
