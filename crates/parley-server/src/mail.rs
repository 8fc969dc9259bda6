//! Mail through SMTP (`lettre`): fee alerts today; invitations and mentions can take the same
//! path. Configured by `[mail]` in `parley.toml` (`smtp_url`, `from`): `smtp://host:port`
//! (plain, for a relay on the same host or a test server), `smtp://…?tls=required` (STARTTLS)
//! or `smtps://host` (TLS from the start), with `user:password@` when the relay asks. Without
//! it, alerts are in-app and webhook only.

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where and as whom mail goes.
#[derive(Clone)]
pub struct MailSettings {
    pub smtp_url: String,
    pub from: String,
}

impl std::fmt::Debug for MailSettings {
    // The relay's URL may hold a password: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings").field("from", &self.from).finish_non_exhaustive()
    }
}

/// Sends mail through the configured relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    // The relay's URL may hold a password: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for these settings; the error says which setting is wrong.
    pub fn new(settings: &MailSettings) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|e| format!("mail smtp_url is not an smtp:// or smtps:// URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        let from: Mailbox =
            settings.from.parse().map_err(|e| format!("mail from {:?} is not an address: {e}", settings.from))?;
        Ok(Mailer { transport, from })
    }

    /// Sends one plain-text mail to each address in `to` (one message, all recipients).
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), String> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address.parse().map_err(|e| format!("{address:?} is not an address: {e}"))?;
            builder = builder.to(mailbox);
        }
        let message = builder.body(body.to_owned()).map_err(|e| format!("cannot build the mail: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("the mail relay refused or failed: {e}"))
    }
}
