use super::*;

const T0: Timestamp = Timestamp::from_secs(1_800_000_000); // 2027-01-15, after the Oct 2026 pricing change
const DAY: i64 = 86_400;

fn template(category: TemplateCategory) -> Outbound {
    Outbound::Template(TemplateFacts {
        name: "order_update".into(),
        status: Some(TemplateStatus::Approved),
        category,
        params: Ok(()),
    })
}

/// A customer who wrote an hour ago, opted in, everything fine.
fn base() -> SendCheck {
    SendCheck {
        now: T0,
        outbound: Outbound::Session,
        channel_active: true,
        not_carried_by: None,
        recipient_phone: Some(E164::parse("+33612345678").unwrap()),
        blocked: false,
        identity_unacknowledged: false,
        opted_in: true,
        require_opt_in: true,
        marketing_opt_out: false,
        last_inbound_at: Some(T0.plus_secs(-3600)),
        last_referral_at: None,
        entry_point_opened_at: None,
        messaging_limit: Some(250),
        recipients_last_24h: 0,
        recipient_counted: false,
    }
}

fn refusal(c: SendCheck) -> &'static str {
    check_send(&c).expect_err("refused").code()
}

#[test]
fn window_boundary_is_exactly_24_hours() {
    let mut c = base();
    c.last_inbound_at = Some(T0.plus_secs(-(DAY - 1)));
    assert!(check_send(&c).is_ok(), "23:59:59 after the last inbound: open");
    c.last_inbound_at = Some(T0.plus_secs(-DAY));
    assert_eq!(refusal(c.clone()), "window_closed", "24:00:00: closed");
    c.last_inbound_at = None;
    assert_eq!(refusal(c), "window_closed", "never wrote: closed");
}

#[test]
fn templates_go_out_when_the_window_is_closed() {
    let mut c = base();
    c.last_inbound_at = Some(T0.plus_secs(-2 * DAY));
    c.outbound = template(TemplateCategory::Utility);
    let ok = check_send(&c).unwrap();
    assert!(ok.business_initiated, "outside the window: counts toward the limit");
    assert_eq!((ok.category, ok.pricing_type, ok.window_closes_at), ("utility", PricingType::Regular, None));
}

#[test]
fn replies_inside_the_window_never_count() {
    let mut c = base();
    c.recipients_last_24h = 250;
    let ok = check_send(&c).unwrap();
    assert!(!ok.business_initiated);
    c.outbound = template(TemplateCategory::Utility);
    assert!(!check_send(&c).unwrap().business_initiated, "a template inside the window is not business-initiated");
}

#[test]
fn the_limit_counts_unique_recipients() {
    let mut c = base();
    c.last_inbound_at = None;
    c.outbound = template(TemplateCategory::Marketing);
    c.recipients_last_24h = 249;
    assert!(check_send(&c).is_ok(), "the 250th recipient fits");
    c.recipients_last_24h = 250;
    assert_eq!(refusal(c.clone()), "limit_reached");
    c.recipient_counted = true;
    assert!(check_send(&c).is_ok(), "someone already counted today costs nothing more");
    c.recipient_counted = false;
    c.messaging_limit = Some(10_000);
    assert!(check_send(&c).is_ok(), "a higher tier lets it through");
    c.messaging_limit = None;
    c.recipients_last_24h = 1_000_000;
    assert!(check_send(&c).is_ok(), "unlimited");
}

#[test]
fn templates_need_approval_and_matching_params() {
    let mut c = base();
    for (status, code) in [
        (Some(TemplateStatus::Pending), "template_not_approved"),
        (Some(TemplateStatus::Rejected), "template_not_approved"),
        (Some(TemplateStatus::Disabled), "template_not_approved"),
        (None, "template_not_approved"),
        (Some(TemplateStatus::Paused), "template_paused"),
    ] {
        c.outbound = Outbound::Template(TemplateFacts {
            name: "t".into(),
            status,
            category: TemplateCategory::Utility,
            params: Ok(()),
        });
        assert_eq!(refusal(c.clone()), code, "{status:?}");
    }
    c.outbound = Outbound::Template(TemplateFacts {
        name: "t".into(),
        status: Some(TemplateStatus::Approved),
        category: TemplateCategory::Utility,
        params: Err("the body takes 2 parameter(s), 1 given".into()),
    });
    assert_eq!(refusal(c), "template_params_mismatch");
}

#[test]
fn opt_in_is_needed_for_templates_to_people_who_never_wrote() {
    let mut c = base();
    c.outbound = template(TemplateCategory::Utility);
    c.last_inbound_at = None;
    c.opted_in = false;
    assert_eq!(refusal(c.clone()), "no_opt_in");
    c.require_opt_in = false;
    assert!(check_send(&c).is_ok(), "the workspace turned the check off");
    c.require_opt_in = true;
    c.last_inbound_at = Some(T0.plus_secs(-10 * DAY));
    assert!(check_send(&c).is_ok(), "wrote to us once: counts as consent");
    c.last_inbound_at = None;
    c.opted_in = true;
    assert!(check_send(&c).is_ok());
}

#[test]
fn marketing_rules() {
    let mut c = base();
    c.outbound = template(TemplateCategory::Marketing);
    c.marketing_opt_out = true;
    assert_eq!(refusal(c.clone()), "marketing_opt_out");
    c.outbound = template(TemplateCategory::Utility);
    assert!(check_send(&c).is_ok(), "opting out of marketing does not stop utility templates");
    c.marketing_opt_out = false;
    c.recipient_phone = Some(E164::parse("+1 202 555 0173").unwrap());
    assert!(check_send(&c).is_ok(), "utility to the US is fine");
    c.outbound = template(TemplateCategory::Marketing);
    assert_eq!(refusal(c.clone()), "us_marketing_blocked");
    c.recipient_phone = Some(E164::parse("+1 416 555 0199").unwrap());
    assert!(check_send(&c).is_ok(), "Canada is +1 but not the US");
}

#[test]
fn contact_and_channel_blocks_come_first() {
    let mut c = base();
    c.channel_active = false;
    assert_eq!(refusal(c.clone()), "channel_disabled");
    c.channel_active = true;
    c.blocked = true;
    assert_eq!(refusal(c.clone()), "blocked_contact");
    c.blocked = false;
    c.identity_unacknowledged = true;
    assert_eq!(refusal(c), "identity_changed");
}

#[test]
fn free_entry_point_opens_on_a_timely_reply_to_an_ad() {
    let mut c = base();
    c.last_referral_at = Some(T0.plus_secs(-3600));
    let ok = check_send(&c).unwrap();
    assert!(ok.opens_free_entry_point);
    assert_eq!(ok.pricing_type, PricingType::FreeEntryPoint);
    // Once open, everything is free for 72 hours, templates included, and nothing reopens it.
    c.entry_point_opened_at = Some(T0);
    c.now = T0.plus_secs(71 * 3600);
    c.last_inbound_at = Some(T0.plus_secs(-3600));
    c.outbound = template(TemplateCategory::Marketing);
    let ok = check_send(&c).unwrap();
    assert_eq!((ok.pricing_type, ok.opens_free_entry_point), (PricingType::FreeEntryPoint, false));
    c.now = T0.plus_secs(72 * 3600);
    assert_eq!(check_send(&c).unwrap().pricing_type, PricingType::Regular, "closed after 72 h");
    // A referral older than 24 h opens nothing.
    let mut late = base();
    late.last_referral_at = Some(T0.plus_secs(-DAY));
    late.last_inbound_at = Some(T0.plus_secs(-60));
    assert!(!check_send(&late).unwrap().opens_free_entry_point);
}

#[test]
fn pricing_follows_the_october_2026_change() {
    let mut before = base();
    before.now = SERVICE_CHARGED_FROM.plus_secs(-1);
    before.last_inbound_at = Some(before.now.plus_secs(-60));
    assert_eq!(check_send(&before).unwrap().pricing_type, PricingType::FreeCustomerService);
    before.outbound = template(TemplateCategory::Utility);
    assert_eq!(
        check_send(&before).unwrap().pricing_type,
        PricingType::FreeCustomerService,
        "utility inside the window was free"
    );
    before.outbound = template(TemplateCategory::Marketing);
    assert_eq!(check_send(&before).unwrap().pricing_type, PricingType::Regular, "marketing was always charged");
    let after = base();
    assert_eq!(
        (check_send(&after).unwrap().category, check_send(&after).unwrap().pricing_type),
        ("service", PricingType::Regular)
    );
}

#[test]
fn every_refusal_has_a_code_and_a_message() {
    let all = [
        Refusal::ChannelDisabled,
        Refusal::BlockedContact,
        Refusal::IdentityChanged,
        Refusal::NoPhone,
        Refusal::WindowClosed { closed_at: Some(T0) },
        Refusal::WindowClosed { closed_at: None },
        Refusal::TemplateNotApproved { name: "t".into(), status: None },
        Refusal::TemplatePaused { name: "t".into() },
        Refusal::TemplateParamsMismatch { detail: "x".into() },
        Refusal::NoOptIn,
        Refusal::MarketingOptOut,
        Refusal::UsMarketingBlocked,
        Refusal::LimitReached { limit: 250 },
        Refusal::NotSupportedByProvider { provider: "twilio" },
    ];
    for r in all {
        assert!(!r.code().is_empty() && !r.message().is_empty());
        assert!(r.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    }
}

#[test]
fn what_the_provider_cannot_carry_is_refused_first() {
    let c = SendCheck { not_carried_by: Some("twilio"), ..base() };
    let refused = check_send(&c).unwrap_err();
    assert_eq!(refused, Refusal::NotSupportedByProvider { provider: "twilio" });
    assert_eq!(refused.code(), "not_supported_by_provider");
    assert!(refused.message().contains("twilio"));
    assert!(check_send(&base()).is_ok(), "the same send on a provider that carries it");
}
