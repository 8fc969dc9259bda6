//! Configuration: command-line flags win over `PARLEY_*` environment variables, which win over
//! `parley.toml`, which wins over the defaults below.
//!
//! | setting        | flag             | environment           | parley.toml    | default          |
//! |----------------|------------------|-----------------------|----------------|------------------|
//! | listen address | `--listen`       | `PARLEY_LISTEN`       | `listen`       | `127.0.0.1:8080` |
//! | data directory | `--data-dir`     | `PARLEY_DATA_DIR`     | `data_dir`     | `./parley-data`  |
//! | database URL   | `--database-url` | `PARLEY_DATABASE_URL` | `database_url` | SQLite file `parley.db` in the data dir |
//! | log filter     | `--log`          | `PARLEY_LOG`          | `log`          | `info`           |
//! | send timeout   | `--send-timeout` | `PARLEY_SEND_TIMEOUT` | `send_timeout` | `30` (seconds)   |
//! | trusted proxies | `--trusted-proxies` | `PARLEY_TRUSTED_PROXIES` | `trusted_proxies` | none |
//! | allowed provider hosts | `--allow-provider-host` (repeatable) | `PARLEY_ALLOW_PROVIDER_HOSTS` (comma-separated) | `allow_provider_hosts` (list) | none: only Meta's official hosts |
//! | upload files per minute (per user) | `--upload-files-per-minute` | `PARLEY_UPLOAD_FILES_PER_MINUTE` | `upload_files_per_minute` | `30` |
//! | upload megabytes per hour (per user) | `--upload-mb-per-hour` | `PARLEY_UPLOAD_MB_PER_HOUR` | `upload_mb_per_hour` | `2048` |
//! | public URL (links in mail, Stripe's way back) | `--public-url` | `PARLEY_PUBLIC_URL` | `public_url` | `http://<listen address>` |
//!
//! Trusted proxies are addresses or networks (`10.0.0.0/8`): only a request whose TCP peer is
//! one of them has its `X-Forwarded-For` read (see `parley_server::web::client_ip`). Comma-
//! separated in the flag and the environment, a list in the file.
//!
//! Allowed provider hosts: provider calls (a channel's `graph_base_url`, media downloads) go to
//! Meta's official hosts only (`graph.facebook.com`; media also from `lookaside.fbsbx.com` and
//! subdomains of `fbsbx.com`/`fbcdn.net`), over https, never to loopback, private or link-local
//! addresses. Each entry here allows one more server: `host`, `host:port` (any scheme) or a base
//! URL `http://host:port` (that scheme and port), loopback and private addresses included. For
//! a sandbox or a test provider only: a host on the list receives channels' access tokens.
//!
//! The config file is `--config FILE` (or `PARLEY_CONFIG`); without it, `./parley.toml` is read
//! when it exists.
//!
//! Two optional tables, in the file only (their secrets may also come from the environment):
//!
//! ```toml
//! [stripe]                      # card top-ups of WhatsApp fees (docs/fees.md)
//! secret_key = "sk_live_…"      # or PARLEY_STRIPE_SECRET_KEY
//! webhook_secret = "whsec_…"    # or PARLEY_STRIPE_WEBHOOK_SECRET; endpoint: <public_url>/webhooks/stripe
//! public_url = "https://parley.example.com"   # where payers come back to (default: the top-level public_url)
//! api_base = "https://api.stripe.com"         # default
//! top_up_min = "10"             # default 10, in the account's currency
//! top_up_max = "2000"           # default 2000
//!
//! [mail]                        # fee alerts by mail
//! smtp_url = "smtp://relay.example.com:587?tls=required"   # or PARLEY_SMTP_URL; smtps://, user:pass@ allowed
//! from = "Parley <parley@example.com>"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parley_core::fees::Micros;
use parley_providers::guard::AllowList;
use parley_server::mail::MailSettings;
use parley_server::payments::StripeSettings;
use parley_server::uploads::UploadQuota;
use parley_server::web::client_ip::TrustedProxies;
use parley_store::DatabaseUrl;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./parley-data";
pub const DEFAULT_CONFIG: &str = "parley.toml";

/// Options every command that touches the database or the network shares.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Default: ./parley.toml when it exists.
    #[arg(long, env = "PARLEY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PARLEY_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Directory for the SQLite database and files [default: ./parley-data].
    #[arg(long, env = "PARLEY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: SQLite in the data dir].
    #[arg(long, env = "PARLEY_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log filter, e.g. info, debug, parley_server=debug [default: info].
    #[arg(long, env = "PARLEY_LOG", global = true)]
    pub log: Option<String>,
    /// Seconds to wait for the provider's answer to a send before its outcome is "unknown"
    /// (never resent by itself) [default: 30].
    #[arg(long, env = "PARLEY_SEND_TIMEOUT", global = true)]
    pub send_timeout: Option<u64>,
    /// Reverse proxies whose X-Forwarded-For is believed: IPs or CIDRs, comma-separated
    /// [default: none, the header is ignored].
    #[arg(long, env = "PARLEY_TRUSTED_PROXIES", global = true, value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// A host, host:port or base URL provider calls may reach besides Meta's official hosts
    /// (a sandbox); repeatable [default: none].
    #[arg(long = "allow-provider-host", env = "PARLEY_ALLOW_PROVIDER_HOSTS", value_delimiter = ',', global = true)]
    pub allow_provider_hosts: Vec<String>,
    /// Files one user may upload per minute (media and CSV imports) [default: 30].
    #[arg(long, env = "PARLEY_UPLOAD_FILES_PER_MINUTE", global = true)]
    pub upload_files_per_minute: Option<u32>,
    /// Megabytes one user may upload per hour [default: 2048].
    #[arg(long, env = "PARLEY_UPLOAD_MB_PER_HOUR", global = true)]
    pub upload_mb_per_hour: Option<u32>,
    /// Where people reach this server, for links in mail and Stripe's way back
    /// [default: http://<listen address>].
    #[arg(long, env = "PARLEY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
}

/// What `parley.toml` may contain. Unknown keys are an error, so typos do not go unnoticed.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log: Option<String>,
    send_timeout: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    allow_provider_hosts: Option<Vec<String>>,
    upload_files_per_minute: Option<u32>,
    upload_mb_per_hour: Option<u32>,
    public_url: Option<String>,
    stripe: Option<StripeFile>,
    mail: Option<MailFile>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct StripeFile {
    secret_key: Option<String>,
    webhook_secret: Option<String>,
    public_url: Option<String>,
    api_base: Option<String>,
    top_up_min: Option<String>,
    top_up_max: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct MailFile {
    smtp_url: Option<String>,
    from: Option<String>,
}

/// The `[stripe]` table resolved (secrets from the environment win), or `None` when absent.
fn stripe_settings(file: Option<StripeFile>, public_url: &str) -> anyhow::Result<Option<StripeSettings>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(file) = file else { return Ok(None) };
    let defaults = StripeSettings::default();
    let money = |text: Option<String>, default: Micros, name: &str| -> anyhow::Result<Micros> {
        match text {
            None => Ok(default),
            Some(t) => Micros::parse(&t).map_err(|e| anyhow::anyhow!("stripe {name}: {e}")),
        }
    };
    let settings = StripeSettings {
        secret_key: env("PARLEY_STRIPE_SECRET_KEY").or(file.secret_key).unwrap_or_default(),
        webhook_secret: env("PARLEY_STRIPE_WEBHOOK_SECRET").or(file.webhook_secret).unwrap_or_default(),
        api_base: file.api_base.unwrap_or(defaults.api_base),
        public_url: file.public_url.unwrap_or_else(|| public_url.to_owned()),
        top_up_min: money(file.top_up_min, defaults.top_up_min, "top_up_min")?,
        top_up_max: money(file.top_up_max, defaults.top_up_max, "top_up_max")?,
    };
    if settings.secret_key.is_empty() || settings.webhook_secret.is_empty() {
        bail!(
            "[stripe] needs secret_key and webhook_secret (or PARLEY_STRIPE_SECRET_KEY, PARLEY_STRIPE_WEBHOOK_SECRET)"
        );
    }
    if settings.top_up_min <= Micros::ZERO || settings.top_up_max < settings.top_up_min {
        bail!("[stripe] top_up_min is more than zero and at most top_up_max");
    }
    Ok(Some(settings))
}

/// The `[mail]` table resolved, or `None` when absent.
fn mail_settings(file: Option<MailFile>) -> anyhow::Result<Option<MailSettings>> {
    let url = std::env::var("PARLEY_SMTP_URL").ok().filter(|v| !v.is_empty());
    let Some(file) = file else { return Ok(None) };
    let (Some(smtp_url), Some(from)) = (url.or(file.smtp_url), file.from) else {
        bail!("[mail] needs smtp_url (or PARLEY_SMTP_URL) and from");
    };
    let settings = MailSettings { smtp_url, from };
    parley_server::mail::Mailer::new(&settings).map_err(anyhow::Error::msg)?;
    Ok(Some(settings))
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub log: String,
    pub send_timeout: std::time::Duration,
    pub trusted_proxies: TrustedProxies,
    /// Hosts provider calls may reach besides Meta's official ones.
    pub allow_provider_hosts: AllowList,
    pub upload_quota: UploadQuota,
    /// Where people reach this server (links in mail, Stripe's way back).
    pub public_url: String,
    pub stripe: Option<StripeSettings>,
    pub mail: Option<MailSettings>,
}

impl ConfigArgs {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        self.resolve_with_default_file(Path::new(DEFAULT_CONFIG))
    }

    /// `default_file` is read, when it exists, if no `--config` was given.
    fn resolve_with_default_file(&self, default_file: &Path) -> anyhow::Result<Config> {
        let file = self.read_file(default_file)?;
        let listen_text = self.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .with_context(|| format!("listen address {listen_text:?} is not HOST:PORT (e.g. 127.0.0.1:8080)"))?;
        let data_dir = self.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let url = self.database_url.clone().or(file.database_url);
        let database = DatabaseUrl::parse(url.as_deref(), &data_dir)?;
        let log = self.log.clone().or(file.log).unwrap_or_else(|| "info".to_owned());
        let send_timeout = self.send_timeout.or(file.send_timeout).unwrap_or(30);
        if !(1..=600).contains(&send_timeout) {
            bail!("the send timeout is 1 to 600 seconds ({send_timeout} given)");
        }
        let proxies = if self.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            self.trusted_proxies.clone()
        };
        let trusted_proxies = TrustedProxies::parse(&proxies).map_err(anyhow::Error::msg)?;
        let hosts = if self.allow_provider_hosts.is_empty() {
            file.allow_provider_hosts.unwrap_or_default()
        } else {
            self.allow_provider_hosts.clone()
        };
        let allow_provider_hosts =
            AllowList::parse(&hosts).map_err(|e| anyhow::anyhow!("allowed provider hosts: {e}"))?;
        let defaults = UploadQuota::default();
        let upload_quota = UploadQuota {
            files_per_minute: self
                .upload_files_per_minute
                .or(file.upload_files_per_minute)
                .unwrap_or(defaults.files_per_minute),
            mb_per_hour: self.upload_mb_per_hour.or(file.upload_mb_per_hour).unwrap_or(defaults.mb_per_hour),
        };
        if upload_quota.files_per_minute == 0 || upload_quota.mb_per_hour == 0 {
            bail!("upload quotas are at least 1 (files per minute, megabytes per hour)");
        }
        let public_url = self.public_url.clone().or(file.public_url).unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("public_url {public_url:?} is an http:// or https:// address");
        }
        let stripe = stripe_settings(file.stripe, &public_url)?;
        let mail = mail_settings(file.mail)?;
        Ok(Config {
            public_url,
            stripe,
            mail,
            listen,
            data_dir,
            database,
            log,
            send_timeout: std::time::Duration::from_secs(send_timeout),
            trusted_proxies,
            allow_provider_hosts,
            upload_quota,
        })
    }

    fn read_file(&self, default_file: &Path) -> anyhow::Result<FileConfig> {
        let (path, required) = match &self.config {
            Some(path) => (path.clone(), true),
            None => (default_file.to_owned(), false),
        };
        if !required && !path.exists() {
            return Ok(FileConfig::default());
        }
        parse_file(&path)
    }
}

fn parse_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => bail!("cannot read the config file {}: {e}", path.display()),
    };
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ConfigArgs {
        ConfigArgs::default()
    }

    #[test]
    fn defaults() {
        let dir = tempfile::tempdir().unwrap();
        let resolved = args().resolve_with_default_file(&dir.path().join("parley.toml")).unwrap();
        assert_eq!(resolved.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(resolved.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(resolved.database, DatabaseUrl::Sqlite(PathBuf::from(DEFAULT_DATA_DIR).join("parley.db")));
        assert_eq!(resolved.log, "info");
        assert!(resolved.trusted_proxies.is_empty(), "X-Forwarded-For is not read by default");
        assert!(resolved.allow_provider_hosts.is_empty(), "only Meta's official hosts by default");
        assert_eq!(resolved.upload_quota, UploadQuota::default());
    }

    #[test]
    fn trusted_proxies_come_from_the_file_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, "trusted_proxies = [\"10.0.0.0/8\", \"192.168.1.7\"]\n").unwrap();
        let from_file = args().resolve_with_default_file(&file).unwrap().trusted_proxies;
        assert!(from_file.contains("10.1.2.3".parse().unwrap()) && from_file.contains("192.168.1.7".parse().unwrap()));
        let flag = ConfigArgs { trusted_proxies: vec!["127.0.0.1".into()], ..args() };
        let from_flag = flag.resolve_with_default_file(&file).unwrap().trusted_proxies;
        assert!(from_flag.contains("127.0.0.1".parse().unwrap()) && !from_flag.contains("10.1.2.3".parse().unwrap()));
        std::fs::write(&file, "trusted_proxies = [\"proxy.internal\"]\n").unwrap();
        let err = format!("{:#}", args().resolve_with_default_file(&file).unwrap_err());
        assert!(err.contains("proxy.internal"), "{err}");
    }

    #[test]
    fn allowed_provider_hosts_and_upload_quotas_come_from_flags_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(
            &file,
            "allow_provider_hosts = [\"127.0.0.1:9000\"]\nupload_files_per_minute = 5\nupload_mb_per_hour = 10\n",
        )
        .unwrap();
        let from_file = ConfigArgs { config: Some(file.clone()), ..args() }.resolve().unwrap();
        assert_eq!(from_file.allow_provider_hosts, AllowList::parse(&["127.0.0.1:9000"]).unwrap());
        assert_eq!(from_file.upload_quota, UploadQuota { files_per_minute: 5, mb_per_hour: 10 });
        let flags = ConfigArgs {
            config: Some(file.clone()),
            allow_provider_hosts: vec!["http://sandbox.internal".into()],
            upload_mb_per_hour: Some(20),
            ..args()
        }
        .resolve()
        .unwrap();
        assert_eq!(flags.allow_provider_hosts, AllowList::parse(&["http://sandbox.internal"]).unwrap());
        assert_eq!(flags.upload_quota, UploadQuota { files_per_minute: 5, mb_per_hour: 20 });
        let bad =
            ConfigArgs { allow_provider_hosts: vec!["http://".into()], ..args() }.resolve_with_default_file(&file);
        assert!(format!("{:#}", bad.unwrap_err()).contains("allowed provider hosts"));
        let zero = ConfigArgs { upload_files_per_minute: Some(0), ..args() }.resolve_with_default_file(&file);
        assert!(zero.is_err());
    }

    #[test]
    fn stripe_and_mail_come_from_their_tables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        let resolved = args().resolve_with_default_file(&file).unwrap();
        assert!(resolved.stripe.is_none() && resolved.mail.is_none(), "off unless configured");
        std::fs::write(
            &file,
            "[stripe]\nsecret_key = \"sk_test_1\"\nwebhook_secret = \"whsec_1\"\ntop_up_min = \"5\"\n\n\
             [mail]\nsmtp_url = \"smtp://127.0.0.1:2525\"\nfrom = \"Parley <parley@example.com>\"\n",
        )
        .unwrap();
        let resolved = args().resolve_with_default_file(&file).unwrap();
        let stripe = resolved.stripe.unwrap();
        assert_eq!((stripe.secret_key.as_str(), stripe.webhook_secret.as_str()), ("sk_test_1", "whsec_1"));
        assert_eq!(stripe.top_up_min, Micros(5_000_000));
        assert_eq!(stripe.top_up_max, Micros(2_000_000_000), "the default");
        assert_eq!(stripe.api_base, "https://api.stripe.com");
        assert_eq!(stripe.public_url, format!("http://{DEFAULT_LISTEN}"));
        assert_eq!(resolved.mail.unwrap().smtp_url, "smtp://127.0.0.1:2525");
        std::fs::write(&file, "[stripe]\nsecret_key = \"sk_test_1\"\n").unwrap();
        let err = format!("{:#}", args().resolve_with_default_file(&file).unwrap_err());
        assert!(err.contains("webhook_secret"), "{err}");
        std::fs::write(&file, "[mail]\nsmtp_url = \"nonsense\"\nfrom = \"x@example.com\"\n").unwrap();
        let err = format!("{:#}", args().resolve_with_default_file(&file).unwrap_err());
        assert!(err.contains("smtp_url"), "{err}");
        std::fs::write(&file, "[mail]\nsmtp_url = \"smtp://127.0.0.1\"\nform = \"x@example.com\"\n").unwrap();
        assert!(args().resolve_with_default_file(&file).is_err(), "a typo is an error");
    }

    #[test]
    fn the_default_file_is_read_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\n").unwrap();
        assert_eq!(args().resolve_with_default_file(&file).unwrap().listen.to_string(), "127.0.0.1:7000");
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/parley\"\nlog = \"debug\"\n").unwrap();
        let c = ConfigArgs { config: Some(file.clone()), listen: Some("127.0.0.1:9999".into()), ..args() }
            .resolve()
            .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(c.data_dir, PathBuf::from("/srv/parley"));
        assert_eq!(c.log, "debug");
        assert_eq!(c.database, DatabaseUrl::Sqlite(PathBuf::from("/srv/parley/parley.db")));
    }

    #[test]
    fn bad_files_and_values_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        let err = format!("{:#}", ConfigArgs { config: Some(file.clone()), ..args() }.resolve().unwrap_err());
        assert!(err.contains("listne"), "{err}");
        let err = format!(
            "{:#}",
            ConfigArgs { config: Some(dir.path().join("missing.toml")), ..args() }.resolve().unwrap_err()
        );
        assert!(err.contains("missing.toml"), "{err}");
        std::fs::write(&file, "").unwrap();
        let err = format!(
            "{:#}",
            ConfigArgs { config: Some(file.clone()), listen: Some("nowhere".into()), ..args() }.resolve().unwrap_err()
        );
        assert!(err.contains("nowhere"), "{err}");
        let err = format!(
            "{:#}",
            ConfigArgs { config: Some(file), database_url: Some("mysql://x".into()), ..args() }.resolve().unwrap_err()
        );
        assert!(err.contains("mysql"), "{err}");
    }
}
