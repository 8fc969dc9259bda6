//! The mail worker: mails what is owed a mail through the `[mail]` relay — fee alerts (raised
//! by the ledger, `sql/fee_watch.rs`) and mentions in notes for the users who asked for them
//! (`PATCH /me {"mail_mentions": true}`). Both are rows written in the transaction of what they
//! tell about, so nothing is lost when a server stops; each mention mail is claimed with a lease
//! (one server mails it) and tried a few times with growing waits. Without a relay it does not run.

use std::time::Duration;

use parley_store::MentionMail;
use tokio::sync::watch;

use crate::AppState;
use crate::mail::Mailer;
use crate::web::i18n::Locale;

const POLL: Duration = Duration::from_secs(5);
const LINGER: Duration = Duration::from_secs(1);
/// Mention mails taken per pass, and how long one server keeps a taken mail.
const MENTIONS_AT_ONCE: u32 = 20;
const LEASE_SECS: i64 = 120;
/// Tries each mention's mail this many times, waiting a minute more after each failure.
const MENTION_ATTEMPTS: u32 = 5;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let Some(mailer) = state.mailer.clone() else { return };
    let mut appended = state.events_appended.subscribe();
    loop {
        mail_alerts(&state, &mailer).await;
        mail_mentions(&state, &mailer).await;
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            // Notes append an event; so do the statuses that may raise an alert. Events come
            // in bursts on a busy server: at most a pass a second.
            _ = appended.changed() => tokio::time::sleep(LINGER).await,
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Mails the mentions owed, in the mentioned user's language, with a link to the conversation.
async fn mail_mentions(state: &AppState, mailer: &Mailer) {
    let now = state.clock.now();
    let due = match state.store.mention_mails_due(now, now.plus_secs(LEASE_SECS), MENTIONS_AT_ONCE).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the mention mails owed");
            return;
        }
    };
    for mention in due {
        let (subject, body) = mention_mail(&mention, &state.public_url);
        let sent = mailer.send(std::slice::from_ref(&mention.to), &subject, &body).await;
        let retry_at = match &sent {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(mention = mention.id, error = %e, "cannot mail a mention");
                let tried = mention.attempts + 1;
                (tried < MENTION_ATTEMPTS).then(|| state.clock.now().plus_secs(60 * i64::from(tried)))
            }
        };
        if let Err(e) = state.store.mention_mailed(mention.id, sent, retry_at, state.clock.now()).await {
            tracing::warn!(error = %e, "cannot record a mailed mention");
        }
    }
}

/// The mention's subject and text in the user's language: who, what they wrote, where.
pub fn mention_mail(mention: &MentionMail, public_url: &str) -> (String, String) {
    let locale = mention.locale.as_deref().and_then(Locale::parse).unwrap_or(Locale::En);
    let subject = locale.t("mail.mention.subject").replace("{by}", &mention.author_name);
    let link = format!("{}/inbox#c{}", public_url.trim_end_matches('/'), mention.conversation_id.get());
    let body = format!(
        "{}\n\n{}\n\n{}\n{link}\n",
        locale.t("mail.mention.intro").replace("{by}", &mention.author_name).replace("{name}", &mention.user_name),
        mention.note,
        locale.t("mail.mention.open"),
    );
    (subject, body)
}

/// Alerts older than this are not mailed (a relay set up later does not mail old news).
const ALERT_NEWS_SECS: i64 = 24 * 3600;
/// Tries each alert's mail this many times.
const MAIL_ATTEMPTS: u32 = 5;

/// Mails the alerts not mailed yet: to the account's alert addresses, or else to the
/// workspace's owners.
async fn mail_alerts(state: &AppState, mailer: &Mailer) {
    let since = state.clock.now().plus_secs(-ALERT_NEWS_SECS);
    let alerts = match state.store.alerts_to_mail(since, MAIL_ATTEMPTS, 20).await {
        Ok(alerts) => alerts,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read fee alerts to mail");
            return;
        }
    };
    for alert in alerts {
        let mut to = alert.account.alerts.emails.clone();
        if to.is_empty() {
            match state.store.users(alert.account.workspace_id).await {
                Ok(users) => to.extend(
                    users
                        .into_iter()
                        .filter(|u| u.role == parley_core::account::Role::Owner && u.deactivated_at.is_none() && !u.bot)
                        .map(|u| u.email.as_str().to_owned()),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the owners to mail an alert to");
                    continue;
                }
            }
        }
        let (subject, body) = alert_mail(&alert);
        let sent = mailer.send(&to, &subject, &body).await;
        if let Err(e) = &sent {
            tracing::warn!(alert = alert.id, error = %e, "cannot mail a fee alert");
        }
        if let Err(e) = state.store.alert_mailed(alert.id, sent, state.clock.now()).await {
            tracing::warn!(error = %e, "cannot record a mailed fee alert");
        }
    }
}

/// The alert's subject and text (English: the mail goes to the business's addresses, whose
/// readers' languages Parley does not know).
fn alert_mail(alert: &parley_store::FeeAlert) -> (String, String) {
    let account = &alert.account;
    let money = |m: parley_core::fees::Micros| format!("{} {}", m.to_decimal(), account.currency.as_str());
    let subject = match alert.kind.as_str() {
        "balance_low" => format!("WhatsApp fees: low balance on account {}", account.waba_id),
        "recharge_cap_reached" => format!("WhatsApp fees: auto-recharge cap reached on account {}", account.waba_id),
        _ => format!("WhatsApp fees: auto-recharge failed on account {}", account.waba_id),
    };
    let mut body = format!("WhatsApp Business Account {}\nAvailable: {}\n", account.waba_id, money(alert.available));
    if let Some(threshold) = alert.threshold {
        body.push_str(&format!("Threshold: {}\n", money(threshold)));
    }
    if let Some(detail) = &alert.detail {
        body.push_str(&format!("\n{detail}\n"));
    }
    body.push_str(&format!(
        "\nAt {} (UTC). Top up on the WhatsApp fees page of Parley.\n",
        alert.created_at.to_rfc3339()
    ));
    (subject, body)
}
