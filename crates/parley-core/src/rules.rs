//! WhatsApp's rules, checked before a message is queued (PRODUCT.md §4, spec/meta-cloud-api.md
//! §9): a send is allowed with its pricing, or refused with a typed [`Refusal`] that carries a
//! stable code. Pure: everything the rules look at is in [`SendCheck`], time included.

use serde::Serialize;

use crate::channel::Channel;
use crate::contact::Contact;
use crate::conversation::{Conversation, SERVICE_WINDOW_SECS};
use crate::message::Content;
use crate::outbound::OutboundMessage;
use crate::phone::E164;
use crate::template::{ParamShape, TemplateCategory, TemplateRecord, TemplateStatus};
use crate::time::Timestamp;

/// A reply to a click-to-WhatsApp ad within this long opens a free entry point.
pub const ENTRY_POINT_REPLY_SECS: i64 = 24 * 3600;
/// How long a free entry point stays open.
pub const ENTRY_POINT_SECS: i64 = 72 * 3600;
/// Meta priced per 24-hour conversation (`CBP`) until this instant and per delivered message
/// (`PMP`) from it: 2025-07-01T00:00:00Z.
pub const PER_MESSAGE_FROM: Timestamp = Timestamp::from_secs(1_751_328_000);
/// From this instant (1 Oct 2026, UTC) service messages and utility templates inside the
/// window are charged (spec §9.6); before it they were free.
pub const SERVICE_CHARGED_FROM: Timestamp = Timestamp::from_secs(1_790_812_800);

/// What kind of message is going out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// Anything but a template: text, media, interactive, reactions… (only inside the window).
    Session,
    Template(TemplateFacts),
}

/// What the rules need to know about the template being sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFacts {
    pub name: String,
    /// `None` when no template of that name and language is synced.
    pub status: Option<TemplateStatus>,
    pub category: TemplateCategory,
    /// `Err` with what does not match, from `ParamShape::check`.
    pub params: Result<(), String>,
}

/// Everything a send is judged on.
#[derive(Clone, Debug)]
pub struct SendCheck {
    pub now: Timestamp,
    pub outbound: Outbound,
    /// The channel is connected (not deleted or disabled).
    pub channel_active: bool,
    /// The channel's provider, when it cannot carry this message (`Provider::can_send`).
    pub not_carried_by: Option<&'static str>,
    pub recipient_phone: Option<E164>,
    pub blocked: bool,
    /// The number was re-registered and no agent acknowledged it yet.
    pub identity_unacknowledged: bool,
    /// Opted in to this channel (or all channels), or wrote to the business at some point.
    pub opted_in: bool,
    /// The workspace requires an opt-in before templates (on by default).
    pub require_opt_in: bool,
    /// Pressed "stop promotions" for this number.
    pub marketing_opt_out: bool,
    /// The customer's last message on this channel (provider time).
    pub last_inbound_at: Option<Timestamp>,
    /// The last inbound message that came from a click-to-WhatsApp ad.
    pub last_referral_at: Option<Timestamp>,
    /// When the current free entry point opened, if one did.
    pub entry_point_opened_at: Option<Timestamp>,
    /// Unique business-initiated recipients allowed per rolling 24 h (`None`: unlimited).
    pub messaging_limit: Option<u64>,
    /// Unique business-initiated recipients in the last 24 h, on this business account.
    pub recipients_last_24h: u64,
    /// This recipient is already one of them (sending again costs no budget).
    pub recipient_counted: bool,
}

/// How Meta will price the message (the fees module's type: one enum for the estimate and the
/// report).
pub use crate::fees::PricingType;

/// A send the rules allow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allowed {
    /// `service`, `marketing`, `utility` or `authentication`.
    pub category: &'static str,
    pub pricing_type: PricingType,
    /// Sent outside the service window: counts toward the messaging limit.
    pub business_initiated: bool,
    /// This reply opens a 72 h free entry point.
    pub opens_free_entry_point: bool,
    /// When the service window closes (`None`: closed).
    pub window_closes_at: Option<Timestamp>,
    /// What it is estimated to cost, where fees are accounted for (filled by the store from the
    /// rate card in force; `None` elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::fees::Price>,
}

/// Why a send is refused. `code()` is the stable API code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    ChannelDisabled,
    BlockedContact,
    IdentityChanged,
    NoPhone,
    WindowClosed {
        closed_at: Option<Timestamp>,
    },
    TemplateNotApproved {
        name: String,
        status: Option<TemplateStatus>,
    },
    TemplatePaused {
        name: String,
    },
    TemplateParamsMismatch {
        detail: String,
    },
    NoOptIn,
    MarketingOptOut,
    UsMarketingBlocked,
    LimitReached {
        limit: u64,
    },
    /// A prepaid account (or a postpaid one at its credit limit) cannot cover the send's
    /// estimated price.
    InsufficientBalance {
        needed: crate::fees::Price,
        available: crate::fees::Price,
    },
    /// The number's provider cannot carry this type of message (Twilio: no uploaded media ids,
    /// locations, reactions, contact cards or free-form interactive messages).
    NotSupportedByProvider {
        provider: &'static str,
    },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ChannelDisabled => "channel_disabled",
            Refusal::BlockedContact => "blocked_contact",
            Refusal::IdentityChanged => "identity_changed",
            Refusal::NoPhone => "no_phone",
            Refusal::WindowClosed { .. } => "window_closed",
            Refusal::TemplateNotApproved { .. } => "template_not_approved",
            Refusal::TemplatePaused { .. } => "template_paused",
            Refusal::TemplateParamsMismatch { .. } => "template_params_mismatch",
            Refusal::NoOptIn => "no_opt_in",
            Refusal::MarketingOptOut => "marketing_opt_out",
            Refusal::UsMarketingBlocked => "us_marketing_blocked",
            Refusal::LimitReached { .. } => "limit_reached",
            Refusal::InsufficientBalance { .. } => "insufficient_balance",
            Refusal::NotSupportedByProvider { .. } => "not_supported_by_provider",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::ChannelDisabled => "this channel is disconnected".into(),
            Refusal::BlockedContact => "this contact is blocked".into(),
            Refusal::IdentityChanged => {
                "this contact's WhatsApp number was re-registered; an agent must acknowledge the change first".into()
            }
            Refusal::NoPhone => "this contact has no WhatsApp number to send to".into(),
            Refusal::WindowClosed { closed_at: Some(t) } => {
                format!("the 24-hour customer service window closed at {t}: only approved templates can be sent")
            }
            Refusal::WindowClosed { closed_at: None } => {
                "the customer has not written on this channel: start the conversation with an approved template".into()
            }
            Refusal::TemplateNotApproved { name, status: Some(s) } => {
                format!("template {name:?} is {}, not approved", s.as_str())
            }
            Refusal::TemplateNotApproved { name, status: None } => {
                format!("no template {name:?} in this language is synced for this number")
            }
            Refusal::TemplatePaused { name } => format!("template {name:?} is paused for low quality"),
            Refusal::TemplateParamsMismatch { detail } => {
                format!("the parameters do not match the approved template: {detail}")
            }
            Refusal::NoOptIn => "this contact has no recorded opt-in and never wrote to you".into(),
            Refusal::MarketingOptOut => "this contact stopped marketing messages from this number".into(),
            Refusal::UsMarketingBlocked => "WhatsApp does not deliver marketing templates to US (+1) numbers".into(),
            Refusal::LimitReached { limit } => {
                format!("the messaging limit of {limit} business-initiated recipients per 24 hours is reached")
            }
            Refusal::InsufficientBalance { needed, available } => format!(
                "this send costs {} {} and the account has {} available: top it up first",
                needed.amount.to_decimal(),
                needed.currency.as_str(),
                available.amount.to_decimal()
            ),
            Refusal::NotSupportedByProvider { provider } => {
                format!("this type of message does not go through {provider}: see docs/providers.md")
            }
        }
    }
}

/// Whether the customer service window is open at `now`: strictly less than 24 hours since the
/// customer's last message (at exactly 24:00:00 it is closed).
pub fn window_open(last_inbound_at: Option<Timestamp>, now: Timestamp) -> bool {
    last_inbound_at.is_some_and(|t| now < t.plus_secs(SERVICE_WINDOW_SECS))
}

/// US numbers: country code 1 in the United States (NANP area codes of other countries excluded
/// by libphonenumber's region).
pub fn is_us_number(phone: &E164) -> bool {
    phone.region().as_deref() == Some("US")
}

pub fn check_send(c: &SendCheck) -> Result<Allowed, Refusal> {
    if !c.channel_active {
        return Err(Refusal::ChannelDisabled);
    }
    if let Some(provider) = c.not_carried_by {
        return Err(Refusal::NotSupportedByProvider { provider });
    }
    if c.blocked {
        return Err(Refusal::BlockedContact);
    }
    if c.identity_unacknowledged {
        return Err(Refusal::IdentityChanged);
    }
    let open = window_open(c.last_inbound_at, c.now);
    let template = match &c.outbound {
        Outbound::Session => None,
        Outbound::Template(t) => {
            match t.status {
                Some(TemplateStatus::Approved) => {}
                Some(TemplateStatus::Paused) => return Err(Refusal::TemplatePaused { name: t.name.clone() }),
                status => return Err(Refusal::TemplateNotApproved { name: t.name.clone(), status }),
            }
            if let Err(detail) = &t.params {
                return Err(Refusal::TemplateParamsMismatch { detail: detail.clone() });
            }
            Some(t)
        }
    };
    if template.is_none() && !open {
        return Err(Refusal::WindowClosed { closed_at: c.last_inbound_at.map(|t| t.plus_secs(SERVICE_WINDOW_SECS)) });
    }
    if let Some(t) = template {
        if c.require_opt_in && !c.opted_in && c.last_inbound_at.is_none() {
            return Err(Refusal::NoOptIn);
        }
        if t.category == TemplateCategory::Marketing {
            if c.marketing_opt_out {
                return Err(Refusal::MarketingOptOut);
            }
            if c.recipient_phone.as_ref().is_some_and(is_us_number) {
                return Err(Refusal::UsMarketingBlocked);
            }
        }
    }
    let business_initiated = template.is_some() && !open;
    if business_initiated
        && !c.recipient_counted
        && let Some(limit) = c.messaging_limit
        && c.recipients_last_24h >= limit
    {
        return Err(Refusal::LimitReached { limit });
    }

    let in_entry_point = c.entry_point_opened_at.is_some_and(|t| c.now < t.plus_secs(ENTRY_POINT_SECS));
    // Replying (inside the window) within 24 h of an ad referral opens a free entry point.
    let opens_free_entry_point = !in_entry_point
        && open
        && c.last_referral_at.is_some_and(|r| {
            c.now < r.plus_secs(ENTRY_POINT_REPLY_SECS) && c.entry_point_opened_at.is_none_or(|t| t < r)
        });
    let category = match template {
        None => "service",
        Some(t) => t.category.as_str(),
    };
    let service_free = c.now < SERVICE_CHARGED_FROM;
    let pricing_type = if in_entry_point || opens_free_entry_point {
        PricingType::FreeEntryPoint
    } else {
        match template.map(|t| t.category) {
            None if service_free => PricingType::FreeCustomerService,
            Some(TemplateCategory::Utility) if open && service_free => PricingType::FreeCustomerService,
            _ => PricingType::Regular,
        }
    };
    Ok(Allowed {
        category,
        pricing_type,
        business_initiated,
        opens_free_entry_point,
        window_closes_at: open.then(|| c.last_inbound_at.map(|t| t.plus_secs(SERVICE_WINDOW_SECS))).flatten(),
        price: None,
    })
}

/// Facts about a send, gathered by the store inside the transaction that queues it.
#[derive(Clone, Debug)]
pub struct SendFacts {
    pub channel: Channel,
    pub contact: Contact,
    /// The WhatsApp id (or number) to deliver to; `None` when the contact has neither.
    pub recipient: Option<String>,
    pub conversation: Option<Conversation>,
    /// An explicit opt-in for this channel (or all), or an inbound message on any channel.
    pub opted_in: bool,
    pub require_opt_in: bool,
    pub marketing_opt_out: bool,
    pub identity_unacknowledged: bool,
    pub blocked: bool,
    pub recipients_last_24h: u64,
    pub recipient_counted: bool,
    /// The synced templates the request names.
    pub templates: Vec<TemplateRecord>,
}

/// Judges one message of a send from the facts the store gathered.
pub fn judge(facts: &SendFacts, message: &OutboundMessage, now: Timestamp) -> Result<Allowed, Refusal> {
    if facts.recipient.is_none() {
        return Err(Refusal::NoPhone);
    }
    let outbound = match &message.content {
        Content::Template { name, language, components } => {
            let synced = facts.templates.iter().find(|t| &t.name == name && &t.language == language);
            Outbound::Template(TemplateFacts {
                name: name.clone(),
                status: synced.and_then(|t| TemplateStatus::parse(&t.status)),
                category: synced
                    .and_then(|t| TemplateCategory::parse(&t.category))
                    .unwrap_or(TemplateCategory::Marketing),
                params: match synced {
                    Some(t) => ParamShape::of_components(t.components.as_array().map_or(&[][..], Vec::as_slice))
                        .check(components),
                    None => Ok(()),
                },
            })
        }
        _ => Outbound::Session,
    };
    let conversation = facts.conversation.as_ref();
    let check = SendCheck {
        now,
        outbound,
        channel_active: facts.channel.deleted_at.is_none(),
        not_carried_by: (!facts.channel.provider.can_send(&message.content)).then(|| facts.channel.provider.as_str()),
        recipient_phone: facts.contact.phone.clone(),
        blocked: facts.blocked,
        identity_unacknowledged: facts.identity_unacknowledged,
        opted_in: facts.opted_in,
        require_opt_in: facts.require_opt_in,
        marketing_opt_out: facts.marketing_opt_out,
        last_inbound_at: conversation.and_then(|c| c.last_inbound_at),
        last_referral_at: conversation.and_then(|c| c.last_referral_at),
        entry_point_opened_at: conversation.and_then(|c| c.entry_point_opened_at),
        messaging_limit: facts.channel.messaging_limit.map(|l| l.max(0) as u64),
        recipients_last_24h: facts.recipients_last_24h,
        recipient_counted: facts.recipient_counted,
    };
    check_send(&check)
}

#[cfg(test)]
mod tests;
