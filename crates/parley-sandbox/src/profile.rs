//! The business profile of each number (spec §6.14): `GET|POST /<PHONE_NUMBER_ID>/
//! whatsapp_business_profile`, with Meta's field limits. An update is all or nothing: one bad
//! field refuses the whole request (400, code 100, the message naming the field). Empty strings
//! clear `address`, `description`, `email` and `vertical`; `about` cannot be empty.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Inner;
use crate::graph::{GraphError, number_token_ok};

// The verticals a business may choose: Meta's list, shared with Parley's own check (`UNDEFINED`
// is where new profiles start, not settable).
use parley_core::profile::VERTICALS;

#[derive(Clone, Debug)]
pub(crate) struct Profile {
    about: String,
    address: String,
    description: String,
    email: String,
    profile_picture_url: String,
    websites: Vec<String>,
    vertical: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            // WhatsApp's own default "about" line.
            about: "Hey there! I am using WhatsApp.".into(),
            address: String::new(),
            description: String::new(),
            email: String::new(),
            profile_picture_url: String::new(),
            websites: Vec::new(),
            vertical: "UNDEFINED".into(),
        }
    }
}

impl Profile {
    fn json(&self) -> Value {
        json!({"about": self.about, "address": self.address, "description": self.description, "email": self.email,
            "profile_picture_url": self.profile_picture_url, "websites": self.websites, "vertical": self.vertical,
            "messaging_product": "whatsapp"})
    }

    /// This profile with the request's changes, or the first field Meta would refuse.
    fn updated(&self, body: &Value, picture_url: impl Fn(&str) -> String) -> Result<Profile, GraphError> {
        if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
            return Err(GraphError::invalid("Param messaging_product must be whatsapp"));
        }
        let mut p = self.clone();
        if let Some(about) = text(body, "about", 139)? {
            if about.is_empty() {
                return Err(GraphError::invalid("Param about must be 1 to 139 characters long"));
            }
            p.about = about;
        }
        if let Some(address) = text(body, "address", 256)? {
            p.address = address;
        }
        if let Some(description) = text(body, "description", 512)? {
            p.description = description;
        }
        if let Some(email) = text(body, "email", 128)? {
            if !email.is_empty() && !looks_like_email(&email) {
                return Err(GraphError::invalid("Param email must be a valid email address"));
            }
            p.email = email;
        }
        if let Some(websites) = body.get("websites") {
            let list = websites.as_array().ok_or_else(|| GraphError::invalid("Param websites must be an array"))?;
            if list.len() > 2 {
                return Err(GraphError::invalid("Param websites holds at most 2 URLs"));
            }
            p.websites = list
                .iter()
                .map(|w| match w.as_str() {
                    Some(url) if url.chars().count() <= 256 && is_web_url(url) => Ok(url.to_owned()),
                    _ => Err(GraphError::invalid(
                        "Param websites must hold URLs of at most 256 characters starting with http:// or https://",
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(vertical) = text(body, "vertical", 64)? {
            if !vertical.is_empty() && !VERTICALS.contains(&vertical.as_str()) {
                return Err(GraphError::invalid(format!("Param vertical must be one of {}", VERTICALS.join(", "))));
            }
            p.vertical = vertical;
        }
        if let Some(handle) = body.get("profile_picture_handle") {
            match handle.as_str().filter(|h| !h.trim().is_empty()) {
                Some(h) => p.profile_picture_url = picture_url(h),
                None => return Err(GraphError::invalid("Param profile_picture_handle must be an upload handle")),
            }
        }
        Ok(p)
    }
}

/// The string field `key` if present (at most `max` characters).
fn text(body: &Value, key: &str, max: usize) -> Result<Option<String>, GraphError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => {
            Err(GraphError::invalid(format!("Param {key} must be at most {max} characters long")))
        }
        Some(_) => Err(GraphError::invalid(format!("Param {key} must be a string"))),
    }
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}

/// `GET /<version>/<PHONE_NUMBER_ID>/whatsapp_business_profile[?fields=…]`.
pub(crate) async fn get_profile(
    State(inner): State<Arc<Inner>>,
    Path((_version, pnid)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !number_token_ok(&inner, &headers, &pnid) {
        return GraphError::unauthorized().into_response();
    }
    let mut profile = inner.accounts.lock().expect("accounts").number(&pnid).profile.json();
    if let (Some(fields), Some(map)) = (params.get("fields"), profile.as_object_mut()) {
        let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
        map.retain(|k, _| k == "messaging_product" || wanted.contains(&k.as_str()));
    }
    Json(json!({"data": [profile]})).into_response()
}

/// `POST /<version>/<PHONE_NUMBER_ID>/whatsapp_business_profile` → `{"success": true}`.
pub(crate) async fn set_profile(
    State(inner): State<Arc<Inner>>,
    Path((_version, pnid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !number_token_ok(&inner, &headers, &pnid) {
        return GraphError::unauthorized().into_response();
    }
    let Some(body) = serde_json::from_slice::<Value>(&body).ok().filter(Value::is_object) else {
        return GraphError::invalid("Invalid parameter: the body is not a JSON object").into_response();
    };
    // Meta serves the picture from its CDN; the sandbox names a URL of its own.
    let picture_url = |handle: &str| {
        let digest = hex::encode(&Sha256::digest(handle.as_bytes())[..8]);
        format!("{}/profile-pictures/{pnid}/{digest}.jpg", inner.base_url)
    };
    let mut accounts = inner.accounts.lock().expect("accounts");
    let state = accounts.number(&pnid);
    match state.profile.updated(&body, picture_url) {
        Ok(p) => {
            state.profile = p;
            Json(json!({"success": true})).into_response()
        }
        Err(e) => e.into_response(),
    }
}
