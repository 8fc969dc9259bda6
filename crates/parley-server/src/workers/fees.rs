//! The fees worker: settles the sends held on fee accounts once their status is final — a
//! charge at delivery, a release at failure (`parley-store`, `sql/fee_charges.rs`); asks Stripe
//! for the auto-recharges the ledger requested (`payments.rs`); mails the alerts raised
//! (`[mail]`); reconciles each account's past day with the provider (`reconcile.rs`). It wakes when webhooks are applied (statuses come with them) and every few
//! seconds; settling is exactly once whichever server does it, and so is each recharge
//! (claimed with a lease, asked with an idempotency key).

use std::time::Duration;

use tokio::sync::watch;

use crate::AppState;

const POLL: Duration = Duration::from_secs(5);
const LINGER: Duration = Duration::from_millis(200);
/// Sends settled per transaction: short enough not to hold the writer (SQLite) for long.
const AT_ONCE: u32 = 100;

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut appended = state.events_appended.subscribe();
    loop {
        // Alerts settling raises are events; the webhooks' followers poll for them (a wake-up
        // per pass would wake every worker for every status).
        loop {
            match state.store.settle_fees(state.clock.now(), AT_ONCE).await {
                Ok(n) if n == u64::from(AT_ONCE) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot settle fees");
                    break;
                }
            }
        }
        if let Err(e) = crate::payments::ask_recharges(&state).await {
            tracing::warn!(error = %e, "cannot ask for auto-recharges");
        }
        mail_alerts(&state).await;
        if let Err(e) = crate::reconcile::reconcile_due(&state).await {
            tracing::warn!(error = %e, "cannot reconcile fees");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = appended.changed() => {
                // Statuses come in bursts: a moment's wait settles a burst in one pass.
                tokio::time::sleep(LINGER).await;
            }
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Tries each alert's mail this many times.
const MAIL_ATTEMPTS: u32 = 5;

/// Mails the alerts not mailed yet: to the account's alert addresses, or else to the
/// workspace's owners.
async fn mail_alerts(state: &AppState) {
    let Some(mailer) = state.mailer.clone() else { return };
    let alerts = match state.store.alerts_to_mail(MAIL_ATTEMPTS, 20).await {
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
