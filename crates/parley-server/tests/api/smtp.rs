//! A real SMTP server for the tests that send mail: Python's `aiosmtpd`, started from the
//! tests' virtual environment (`PARLEY_PYWA_PYTHON`, made by `.ci/run`), writing what it
//! receives into a Maildir the test reads.

use std::process::{Child, Command, Stdio};

use crate::helpers::eventually;

/// `aiosmtpd` writing what it receives into a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Started from the tests' Python (`PARLEY_PYWA_PYTHON`, made by `.ci/run`); `None` outside
    /// CI without it.
    pub async fn start() -> Option<SmtpServer> {
        let python = match std::env::var("PARLEY_PYWA_PYTHON") {
            Ok(p) if !p.is_empty() => p,
            _ if parley_store::testing::running_in_ci() => panic!("CI=true but PARLEY_PYWA_PYTHON is not set"),
            _ => {
                eprintln!("skipping the SMTP part: PARLEY_PYWA_PYTHON is not set");
                return None;
            }
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("box"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let server = SmtpServer { child, port, maildir };
        let up = eventually(20, || async { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        assert!(up, "aiosmtpd listens on {port}");
        Some(server)
    }

    /// The subjects of the mails received, in no particular order.
    pub fn subjects(&self) -> Vec<String> {
        let new = self.maildir.path().join("box").join("new");
        let Ok(files) = std::fs::read_dir(new) else { return Vec::new() };
        files
            .filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
            .filter_map(|mail| mail.lines().find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned)))
            .collect()
    }
}

impl SmtpServer {
    /// The full text of each mail received, long lines joined again (quoted-printable soft
    /// breaks removed).
    pub fn mails(&self) -> Vec<String> {
        let new = self.maildir.path().join("box").join("new");
        let Ok(files) = std::fs::read_dir(new) else { return Vec::new() };
        files
            .filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
            .map(|mail| mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "="))
            .collect()
    }
}

/// A mailer sending to the test relay on `port`.
pub fn mailer(port: u16) -> std::sync::Arc<parley_server::mail::Mailer> {
    let settings = parley_server::mail::MailSettings {
        smtp_url: format!("smtp://127.0.0.1:{port}"),
        from: "Parley <parley@acme.example>".into(),
    };
    std::sync::Arc::new(parley_server::mail::Mailer::new(&settings).expect("a mailer for the test relay"))
}

/// Configures a test server to mail through the relay (when there is one), with links
/// pointing at the server itself: for `TestApp::spawn_knowing_addr`.
pub fn mail_through(
    smtp: &Option<SmtpServer>,
) -> impl FnOnce(&mut parley_server::AppState, std::net::SocketAddr) + use<> {
    let port = smtp.as_ref().map(|s| s.port);
    move |state, addr| {
        state.public_url = format!("http://{addr}");
        state.mailer = port.map(mailer);
    }
}
