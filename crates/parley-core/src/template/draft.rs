//! Checking a template before it is submitted to Meta (spec/meta-cloud-api.md §7.2, §7.3): the
//! caller's [`TemplateDraft`] becomes a [`ValidTemplate`] with Meta's upper-case component names,
//! or the first rule it breaks as an [`Invalid`] (`invalid_template`, with the field at fault).
//! Top-level fields and the component list are checked here; the components themselves in
//! `text` (header, body, footer) and `buttons`.
//!
//! Checks run in a fixed order — name, language, category, parameter_format,
//! message_send_ttl_seconds, the component list, then header, body, footer, buttons — so the
//! problem reported does not depend on the order of the components.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{TemplateCategory, buttons, text};
use crate::validation::Invalid;

/// Longest template name Meta accepts.
pub const MAX_TEMPLATE_NAME_CHARS: usize = 512;

/// The template languages Meta supports (spec §7.2), written exactly as Meta expects them.
pub const SUPPORTED_LANGUAGES: &[&str] = &[
    "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY", "bn", "bn_IN", "bg", "ca", "zh_CN",
    "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF", "nl", "nl_BE", "en", "en_GB", "en_US", "en_AE", "en_AU", "en_CA",
    "en_GH", "en_IE", "en_IN", "en_JM", "en_MY", "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et", "fil", "fi", "fr",
    "fr_BE", "fr_CA", "fr_CH", "fr_CI", "fr_MA", "ka", "de", "de_AT", "de_CH", "el", "gu", "ha", "he", "hi", "hu",
    "id", "ga", "it", "ja", "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml", "mr", "nb",
    "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru", "sr", "si_LK", "sk", "sl", "es", "es_AR", "es_CL",
    "es_CO", "es_CR", "es_DO", "es_EC", "es_HN", "es_MX", "es_PA", "es_PE", "es_ES", "es_UY", "sw", "sv", "ta", "te",
    "th", "tr", "uk", "ur", "uz", "vi", "zu",
];

/// A template as the caller submits it for creation or edit: Meta's create body, with names in
/// any case.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDraft {
    pub name: String,
    pub language: String,
    /// `marketing`, `utility` or `authentication`, any case.
    pub category: String,
    /// `positional` (the default) or `named`, any case.
    #[serde(default)]
    pub parameter_format: Option<String>,
    /// Meta's create shape; component `type`, header `format` and button `type` in any case.
    pub components: Vec<Value>,
    #[serde(default)]
    pub message_send_ttl_seconds: Option<i64>,
}

/// How a template's variables are written: `{{1}}`, `{{2}}`… or `{{first_name}}`…
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterFormat {
    #[default]
    Positional,
    Named,
}

impl ParameterFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "positional",
            ParameterFormat::Named => "named",
        }
    }

    /// Meta lists `POSITIONAL` / `NAMED`; requests use lower case. Any case is accepted.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "positional" => Some(ParameterFormat::Positional),
            "named" => Some(ParameterFormat::Named),
            _ => None,
        }
    }
}

/// A template that passed [`TemplateDraft::validate`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidTemplate {
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub parameter_format: ParameterFormat,
    /// Normalised: component `type`, header `format`, button `type` (and OTP `otp_type`)
    /// upper-case, as Meta stores them. An authentication template always has a BODY.
    pub components: Vec<Value>,
    pub message_send_ttl_seconds: Option<i64>,
}

/// What the component checks need to know about the template as a whole.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub category: TemplateCategory,
    pub format: ParameterFormat,
}

impl Rules {
    pub fn auth(self) -> bool {
        self.category == TemplateCategory::Authentication
    }
}

/// The error every check returns: code `invalid_template`, `field` naming the place.
pub(crate) fn bad(field: &str, message: impl Into<String>) -> Invalid {
    Invalid::new("invalid_template", Some(field.to_owned()), message)
}

/// Lower-case name, digits and underscores, 1 to 512 characters (Meta's error `100` otherwise).
pub fn check_template_name(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(bad("name", "the name is required"));
    }
    if name.len() > MAX_TEMPLATE_NAME_CHARS {
        return Err(bad("name", format!("the name is longer than {MAX_TEMPLATE_NAME_CHARS} characters")));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(bad("name", "the name may only use lower-case letters, digits and _ (order_update)"));
    }
    Ok(())
}

/// One of [`SUPPORTED_LANGUAGES`], spelled exactly (`pt_BR`, not `pt-br`): a template's language
/// is matched exactly at send, so a near miss is refused rather than corrected.
pub fn check_language(code: &str) -> Result<(), Invalid> {
    if SUPPORTED_LANGUAGES.contains(&code) {
        return Ok(());
    }
    Err(bad("language", format!("{code:?} is not a template language Meta supports (en, en_US, pt_BR, …)")))
}

/// The allowed `message_send_ttl_seconds` per category. Recalled from Meta's older TTL page
/// (spec §7.3 marks them [I]): authentication 30 s–15 min, utility 30 s–12 h, marketing
/// 12 h–30 days.
pub fn ttl_range(category: TemplateCategory) -> RangeInclusive<i64> {
    match category {
        TemplateCategory::Authentication => 30..=900,
        TemplateCategory::Utility => 30..=43_200,
        TemplateCategory::Marketing => 43_200..=2_592_000,
    }
}

impl TemplateDraft {
    /// Checks the draft against Meta's creation rules and normalises it; the first problem
    /// found is returned.
    ///
    /// Decisions where the spec is vague:
    /// - authentication templates must be positional (Meta writes their body with `{{1}}`);
    /// - an authentication template may leave out its BODY: one (`{"type": "BODY"}`) is added,
    ///   since Meta's own examples always send it and the send-side shape relies on it.
    pub fn validate(&self) -> Result<ValidTemplate, Invalid> {
        check_template_name(&self.name)?;
        check_language(&self.language)?;
        let category = TemplateCategory::parse(&self.category).ok_or_else(|| {
            bad("category", format!("{:?} is not a category: marketing, utility or authentication", self.category))
        })?;
        let parameter_format = match &self.parameter_format {
            None => ParameterFormat::Positional,
            Some(s) => ParameterFormat::parse(s).ok_or_else(|| {
                bad("parameter_format", format!("{s:?} is not a parameter format: positional or named"))
            })?,
        };
        if category == TemplateCategory::Authentication && parameter_format == ParameterFormat::Named {
            return Err(bad("parameter_format", "authentication templates are positional: Meta writes their body"));
        }
        if let Some(ttl) = self.message_send_ttl_seconds {
            let range = ttl_range(category);
            if !range.contains(&ttl) {
                return Err(bad(
                    "message_send_ttl_seconds",
                    format!(
                        "for a {} template, message_send_ttl_seconds is {} to {} seconds",
                        category.as_str(),
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        let components = check_components(&self.components, Rules { category, format: parameter_format })?;
        Ok(ValidTemplate {
            name: self.name.clone(),
            language: self.language.clone(),
            category,
            parameter_format,
            components,
            message_send_ttl_seconds: self.message_send_ttl_seconds,
        })
    }
}

impl ValidTemplate {
    /// The body of `POST /<WABA_ID>/message_templates` (category upper-case, parameter_format
    /// lower-case).
    pub fn create_body(&self) -> Value {
        let mut body = json!({
            "name": self.name,
            "language": self.language,
            "category": self.category.as_str().to_ascii_uppercase(),
            "parameter_format": self.parameter_format.as_str(),
            "components": self.components,
        });
        if let Some(ttl) = self.message_send_ttl_seconds {
            body["message_send_ttl_seconds"] = json!(ttl);
        }
        body
    }

    /// The body of `POST /<TEMPLATE_ID>` (an edit): `components`, `category`, and
    /// `message_send_ttl_seconds` when set. Meta refuses a category change on an approved
    /// template; the caller knows the template's status and drops `category` there if needed.
    pub fn edit_body(&self) -> Value {
        let mut body = json!({
            "category": self.category.as_str().to_ascii_uppercase(),
            "components": self.components,
        });
        if let Some(ttl) = self.message_send_ttl_seconds {
            body["message_send_ttl_seconds"] = json!(ttl);
        }
        body
    }
}

/// The four component kinds a template is made of, at most one of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Header,
    Body,
    Footer,
    Buttons,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Header, Kind::Body, Kind::Footer, Kind::Buttons];

    fn parse(s: &str) -> Option<Self> {
        Kind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s))
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Header => "HEADER",
            Kind::Body => "BODY",
            Kind::Footer => "FOOTER",
            Kind::Buttons => "BUTTONS",
        }
    }
}

/// Checks the component list and each component; returns them normalised, in the given order.
fn check_components(components: &[Value], rules: Rules) -> Result<Vec<Value>, Invalid> {
    let mut at: [Option<usize>; 4] = [None; 4];
    let mut objects: Vec<&Map<String, Value>> = Vec::with_capacity(components.len());
    for (i, c) in components.iter().enumerate() {
        let n = i + 1;
        let obj = c.as_object().ok_or_else(|| bad("components", format!("component {n} is not an object")))?;
        let kind = match obj.get("type") {
            Some(Value::String(s)) => Kind::parse(s).ok_or_else(|| {
                bad("components", format!("component {n} has the unknown type {s:?}: HEADER, BODY, FOOTER or BUTTONS"))
            })?,
            _ => return Err(bad("components", format!("component {n} has no type"))),
        };
        let slot = &mut at[kind as usize];
        if slot.is_some() {
            return Err(bad("components", format!("there are two {} components: at most one of each", kind.name())));
        }
        *slot = Some(i);
        objects.push(obj);
    }
    let mut out: Vec<Value> = Vec::with_capacity(components.len() + 1);
    for (i, obj) in objects.iter().enumerate() {
        let kind = Kind::ALL.into_iter().find(|k| at[*k as usize] == Some(i)).expect("every component has a slot");
        let mut normal = (*obj).clone();
        normal.insert("type".into(), Value::String(kind.name().into()));
        out.push(Value::Object(normal));
    }
    if let Some(i) = at[Kind::Header as usize] {
        if rules.auth() {
            return Err(bad("components.header", "authentication templates have no header"));
        }
        text::check_header(objects[i], rules, &mut out[i])?;
    }
    match at[Kind::Body as usize] {
        Some(i) if rules.auth() => text::check_auth_body(objects[i])?,
        Some(i) => text::check_body(objects[i], rules)?,
        None if rules.auth() => {}
        None => return Err(bad("components.body", "the body is required")),
    }
    if let Some(i) = at[Kind::Footer as usize] {
        text::check_footer(objects[i], rules)?;
    }
    match at[Kind::Buttons as usize] {
        Some(i) => buttons::check_buttons(objects[i], rules, &mut out[i])?,
        None if rules.auth() => {
            return Err(bad(
                "components.buttons",
                "an authentication template needs a BUTTONS component with one OTP button",
            ));
        }
        None => {}
    }
    if rules.auth() && at[Kind::Body as usize].is_none() {
        out.insert(0, json!({"type": "BODY"}));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
