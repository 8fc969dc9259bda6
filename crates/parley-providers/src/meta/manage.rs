//! Management calls of the Graph API (spec/meta-cloud-api.md §6.13, §6.14, §7): templates
//! (create, edit, delete, unpause), the business profile, and the phone number's fields. Their
//! refusals keep Meta's code and message, so a user sees why.

use parley_core::fees::Micros;
use parley_core::template_review::ListedTemplate;
use serde_json::{Value, json};

use super::client::{Gateway, GraphClient};

/// The fields of the phone number node Parley reads for its health.
pub const NUMBER_FIELDS: &str = "id,display_phone_number,verified_name,quality_rating,status,name_status,\
code_verification_status,whatsapp_business_manager_messaging_limit,messaging_limit_tier,throughput,platform_type,account_mode";

/// The business profile fields.
pub const PROFILE_FIELDS: &str = "about,address,description,email,profile_picture_url,websites,vertical";

/// Why a management call failed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// Meta answered with an error: its HTTP status, code, subcode and message.
    #[error("the provider refused (HTTP {status}, code {}): {message}", code.map_or("-".into(), |c| c.to_string()))]
    Refused { status: u16, code: Option<i64>, subcode: Option<i64>, message: String },
    /// No answer, a 5xx or an unreadable one: trying again later may work.
    #[error("the provider could not be reached: {0}")]
    Unavailable(String),
}

/// One data point of `pricing_analytics`: a day's messages of one country, category and
/// pricing type, and what Meta charged for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingPoint {
    /// The day's start (unix seconds, UTC).
    pub start: i64,
    pub country: Option<String>,
    /// In the webhooks' spelling (`marketing`, `authentication_international`).
    pub category: String,
    /// In the webhooks' spelling (`regular`, `free_customer_service`).
    pub pricing_type: String,
    pub volume: i64,
    pub cost: Micros,
}

impl GraphClient {
    /// `GET /<WABA id>/pricing_analytics` by day, country, category and pricing type, from
    /// `start` to `end` (unix seconds). Points Parley cannot read are left out and counted in
    /// the second value.
    pub async fn pricing_analytics(
        &self,
        waba_id: &str,
        start: i64,
        end: i64,
    ) -> Result<(Vec<PricingPoint>, usize), ManageError> {
        let path = format!(
            "{waba_id}/pricing_analytics?start={start}&end={end}&granularity=DAILY\
             &dimensions=PRICING_CATEGORY,PRICING_TYPE,COUNTRY"
        );
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let points =
            answer["data"].as_array().into_iter().flatten().flat_map(|d| d["data_points"].as_array()).flatten();
        let (mut read, mut unread) = (Vec::new(), 0);
        for p in points {
            let cost = p["cost"].as_f64().and_then(|c| Micros::parse(&format!("{c:.6}")).ok());
            let text = |field: &str| p[field].as_str().map(str::to_ascii_lowercase);
            match (p["start"].as_i64(), text("pricing_category"), text("pricing_type"), p["volume"].as_i64(), cost) {
                (Some(start), Some(category), Some(pricing_type), Some(volume), Some(cost)) => {
                    read.push(PricingPoint {
                        start,
                        country: p["country"].as_str().map(str::to_owned),
                        category,
                        pricing_type,
                        volume,
                        cost,
                    })
                }
                _ => unread += 1,
            }
        }
        Ok((read, unread))
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, ManageError> {
        let mut request = self.authorized(self.http.request(method, self.url(path_and_query)));
        if let Some(body) = body {
            request = request.json(body);
        }
        read_answer(request).await
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}/{}", self.base_url, path_and_query.trim_start_matches('/'))
    }

    /// Meta's Resumable Upload API (spec §6.11): opens an upload session on the token's app
    /// (`app` stands for it, so no app id is needed), then sends the whole file at offset 0.
    /// Answers the handle (`4::…`) that template header examples and the profile photo take.
    pub async fn upload_sample(&self, file_name: &str, mime: &str, bytes: Vec<u8>) -> Result<String, ManageError> {
        let path = format!(
            "app/uploads?file_name={}&file_length={}&file_type={}",
            url_encode(file_name),
            bytes.len(),
            url_encode(mime)
        );
        let session = self.call(reqwest::Method::POST, &path, None).await?;
        let Some(id) = session.get("id").and_then(Value::as_str).filter(|id| id.starts_with("upload:")) else {
            return Err(ManageError::Unavailable("the upload session has no id".into()));
        };
        // The second call authenticates with `OAuth`, not `Bearer`, as Meta documents it.
        let request = self
            .http
            .post(self.url(id))
            .header(reqwest::header::AUTHORIZATION, format!("OAuth {}", self.token))
            .header("file_offset", "0")
            .body(bytes);
        let answer = read_answer(request).await?;
        answer
            .get("h")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ManageError::Unavailable("the upload answered no handle".into()))
    }

    /// `POST /<WABA id>/message_templates` → `{"id", "status", "category"}` (on 360dialog:
    /// `POST /v1/configs/templates`, the same body and answer).
    pub async fn create_template(&self, waba_id: &str, body: &Value) -> Result<Value, ManageError> {
        let path = match self.gateway {
            Gateway::Meta => format!("{waba_id}/message_templates"),
            Gateway::Dialog360 => crate::dialog360::TEMPLATES_PATH.to_owned(),
        };
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    /// `POST /<template id>`: replaces the components (and category) and sends it to review.
    pub async fn edit_template(&self, template_id: &str, body: &Value) -> Result<(), ManageError> {
        self.call(reqwest::Method::POST, template_id, Some(body)).await.map(|_| ())
    }

    /// `DELETE /<WABA id>/message_templates?name=…`: every language of the name (on 360dialog:
    /// `DELETE /v1/configs/templates/<name>`).
    pub async fn delete_template(&self, waba_id: &str, name: &str) -> Result<(), ManageError> {
        let name: String = url_encode(name);
        let path = match self.gateway {
            Gateway::Meta => format!("{waba_id}/message_templates?name={name}"),
            Gateway::Dialog360 => format!("{}/{name}", crate::dialog360::TEMPLATES_PATH),
        };
        self.call(reqwest::Method::DELETE, &path, None).await.map(|_| ())
    }

    /// `POST /<template id>/unpause`.
    pub async fn unpause_template(&self, template_id: &str) -> Result<(), ManageError> {
        self.call(reqwest::Method::POST, &format!("{template_id}/unpause"), None).await.map(|_| ())
    }

    /// `GET /<phone number id>?fields=…`.
    pub async fn phone_number(&self, phone_number_id: &str) -> Result<Value, ManageError> {
        self.call(reqwest::Method::GET, &format!("{phone_number_id}?fields={NUMBER_FIELDS}"), None).await
    }

    /// `GET /<phone number id>/whatsapp_business_profile`: the profile (Meta wraps it in `data`).
    pub async fn business_profile(&self, phone_number_id: &str) -> Result<Value, ManageError> {
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("{phone_number_id}/whatsapp_business_profile?fields={PROFILE_FIELDS}"),
                None,
            )
            .await?;
        Ok(answer.pointer("/data/0").cloned().unwrap_or_else(|| Value::Object(Default::default())))
    }

    /// `POST /<phone number id>/whatsapp_business_profile` with the fields to change.
    pub async fn update_business_profile(&self, phone_number_id: &str, fields: &Value) -> Result<(), ManageError> {
        let mut body = fields.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("messaging_product".into(), Value::from("whatsapp"));
        }
        self.call(reqwest::Method::POST, &format!("{phone_number_id}/whatsapp_business_profile"), Some(&body))
            .await
            .map(|_| ())
    }
}

/// Sends a management call and reads its answer: JSON on success, Meta's refusal kept in words.
async fn read_answer(request: reqwest::RequestBuilder) -> Result<Value, ManageError> {
    let resp = request.send().await.map_err(|e| ManageError::Unavailable(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| ManageError::Unavailable(e.without_url().to_string()))?;
    let json: Option<Value> = serde_json::from_str(&text).ok();
    if (200..300).contains(&status) {
        return json.ok_or_else(|| ManageError::Unavailable("the answer is not JSON".into()));
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    match error {
        Some(e) if status < 500 => Err(ManageError::Refused {
            status,
            code: e.get("code").and_then(Value::as_i64),
            subcode: e.get("error_subcode").and_then(Value::as_i64),
            message: e
                .get("error_user_msg")
                .or_else(|| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .chars()
                .take(500)
                .collect(),
        }),
        _ if status < 500 && status != 408 && status != 429 => {
            Err(ManageError::Refused { status, code: None, subcode: None, message: text.chars().take(300).collect() })
        }
        _ => Err(ManageError::Unavailable(format!("HTTP {status}: {}", text.chars().take(300).collect::<String>()))),
    }
}

/// A template object of `GET /<WABA id>/message_templates` (spec §7.1); `None` without a name
/// or language.
pub fn listed_template(t: &Value) -> Option<ListedTemplate> {
    let id = t.get("id").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    Some(ListedTemplate {
        name: t.get("name")?.as_str()?.to_owned(),
        language: t.get("language")?.as_str()?.to_owned(),
        category: t.get("category").and_then(Value::as_str).unwrap_or("MARKETING").to_owned(),
        status: t.get("status").and_then(Value::as_str).unwrap_or("PENDING").to_owned(),
        components: t.get("components").cloned().unwrap_or_else(|| json!([])),
        provider_template_id: id,
        quality: t.pointer("/quality_score/score").and_then(Value::as_str).map(str::to_ascii_lowercase),
        rejected_reason: t
            .get("rejected_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "NONE")
            .map(str::to_owned),
        parameter_format: t.get("parameter_format").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Percent-encodes a query value (template names are `[a-z0-9_]`, but be safe).
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
