//! Outgoing mail: turns an [`OutgoingMail`] into an RFC 5322 message and
//! delivers it, over SMTP when `smtp_url` is set, else into the outbox folder.
//!
//! Mails carry one-time codes, so this module never logs an address, a
//! subject or a body, and its errors never carry the SMTP server's reply text
//! (which often echoes the recipient).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use secrecy::ExposeSecret as _;
use tokio::io::AsyncWriteExt as _;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Email;

/// Delivers mail over SMTP or into the outbox folder, as configured.
///
/// Cloning is cheap: the SMTP transport is a shared connection pool.
#[derive(Clone, Debug)]
pub struct Mailer {
    from: Mailbox,
    delivery: Delivery,
    /// Only names outbox files; a manual clock keeps their order readable in tests.
    clock: Clock,
}

#[derive(Clone, Debug)]
enum Delivery {
    Smtp(Arc<Smtp>),
    Outbox(PathBuf),
}

/// The SMTP settings, and the connection pool built from them on first use.
///
/// lettre's pool spawns a Tokio task when built and another when dropped, so
/// building it in `from_config` would tie that plain function (and the CLI
/// commands that only read the config) to a running runtime. `send` is async,
/// hence always inside one.
#[derive(Debug)]
struct Smtp {
    settings: AsyncSmtpTransportBuilder,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
}

/// One plain-text mail to send.
#[derive(Clone, Debug)]
pub struct OutgoingMail {
    /// Recipients, each in its own `To` header and on the SMTP envelope.
    pub to: Vec<Email>,
    /// Subject line, any Unicode (encoded per RFC 2047 when not ASCII).
    pub subject: String,
    /// Plain-text UTF-8 body.
    pub body: String,
}

impl Mailer {
    /// Builds the mailer from `config`, failing on a bad `mail_from` or `smtp_url`.
    ///
    /// Nothing connects or spawns yet, so this works outside a Tokio runtime:
    /// the SMTP pool is built and dials on the first send, and the outbox
    /// folder is created on the first write.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox = config.mail_from.parse().map_err(|e| {
            anyhow::anyhow!(
                "configuration: `mail_from` (KAGI_MAIL_FROM): `{}` is not a mailbox such as `Kagi <no-reply@example.com>`: {e}",
                config.mail_from
            )
        })?;
        let delivery = match &config.smtp_url {
            Some(url) => Delivery::Smtp(Arc::new(Smtp {
                settings: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    // The URL may hold a password: name the setting, not its value.
                    .context(
                        "configuration: `smtp_url` (KAGI_SMTP_URL) is not a usable SMTP URL",
                    )?,
                transport: OnceLock::new(),
            })),
            None => Delivery::Outbox(config.outbox_dir.clone()),
        };
        Ok(Self {
            from,
            delivery,
            clock: Clock::system(),
        })
    }

    /// Uses `clock` for the unix-seconds prefix of outbox file names.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends `mail`, or writes it to the outbox folder when no SMTP server is configured.
    ///
    /// Fails with [`Error::Invalid`] for a mail without recipients or with an
    /// address the mail format cannot carry, and with [`Error::Internal`] when
    /// delivery fails.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<()> {
        let message = self.message(mail)?;
        match &self.delivery {
            Delivery::Smtp(smtp) => {
                let transport = smtp.transport.get_or_init(|| smtp.settings.clone().build());
                transport.send(message).await.map_err(smtp_error)?;
                tracing::debug!(
                    mail.recipients = mail.to.len(),
                    "mail handed to the SMTP server"
                );
            }
            Delivery::Outbox(dir) => {
                let path = self.write_to_outbox(dir, &message.formatted()).await?;
                tracing::info!(mail.path = %path.display(), "mail written to the outbox");
            }
        }
        Ok(())
    }

    fn message(&self, mail: &OutgoingMail) -> Result<Message> {
        if mail.to.is_empty() {
            return Err(Error::Invalid(
                "a mail needs at least one recipient".to_owned(),
            ));
        }
        // A Message-ID on the sender's domain (RFC 5322 §3.6.4 SHOULD; spam
        // filters count a missing one), rather than lettre's, which names this host.
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), self.from.email.domain());
        let mut builder = Message::builder()
            .message_id(Some(message_id))
            .from(self.from.clone())
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN);
        for to in &mail.to {
            // `Email::parse` is looser than RFC 5321; the address stays out of
            // the error because errors end up in logs.
            let address: Address = to.as_str().parse().map_err(|_| {
                Error::Invalid("a recipient address cannot be carried by mail".to_owned())
            })?;
            builder = builder.to(Mailbox::new(None, address));
        }
        builder
            .body(mail.body.clone())
            .context("cannot build the mail message")
            .map_err(Error::Internal)
    }

    /// Writes `bytes` to `<dir>/<unix-seconds>-<uuid>.eml` through a hidden
    /// temporary file and a rename, so a reader never sees half a mail.
    async fn write_to_outbox(&self, dir: &Path, bytes: &[u8]) -> Result<PathBuf> {
        create_private_dir(dir)
            .await
            .with_context(|| format!("cannot create the outbox folder {}", dir.display()))?;
        let name = format!("{}-{}.eml", self.clock.now(), uuid::Uuid::new_v4());
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}.tmp"));
        let written = async {
            let mut file = private_file(&temp).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            tokio::fs::rename(&temp, &path).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(Error::Internal(anyhow::Error::new(e).context(format!(
                "cannot write the outbox file {}",
                path.display()
            ))));
        }
        Ok(path)
    }
}

/// Creates `dir` (and its parents) readable by the owner only on unix: the
/// outbox holds one-time codes.
async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

/// Opens a new file that only the owner can read on unix.
async fn private_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

/// Describes an SMTP failure by kind and status code only: the server's reply
/// text often quotes the recipient, and this error will be logged.
fn smtp_error(e: lettre::transport::smtp::Error) -> Error {
    let kind = if e.is_permanent() {
        "the SMTP server refused the mail permanently"
    } else if e.is_transient() {
        "the SMTP server refused the mail for now"
    } else if e.is_timeout() {
        "the SMTP server timed out"
    } else if e.is_tls() {
        "TLS with the SMTP server failed"
    } else if e.is_response() {
        "the SMTP server sent an unreadable reply"
    } else {
        "cannot talk to the SMTP server"
    };
    let message = match e.status() {
        Some(code) => format!("{kind} (reply code {code})"),
        None => kind.to_owned(),
    };
    Error::Internal(anyhow::Error::msg(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::for_tests(vars)
    }

    #[tokio::test]
    async fn outbox_mode_writes_one_eml_file_with_recipient_subject_and_body() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let outbox_str = outbox.to_str().unwrap();
        let mailer = Mailer::from_config(&config(&[("KAGI_OUTBOX_DIR", outbox_str)]))
            .unwrap()
            .with_clock(Clock::manual(1_700_000_000));
        let mail = OutgoingMail {
            to: vec![Email::parse("taro@example.jp").unwrap()],
            subject: "Your login code".to_owned(),
            body: "Your code is 123456.\nIt is valid for 10 minutes.\n".to_owned(),
        };

        mailer.send(&mail).await.unwrap();

        let files: Vec<_> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(
            files.len(),
            1,
            "exactly one file, no temporary left: {files:?}"
        );
        let name = files[0].file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("1700000000-") && name.ends_with(".eml"),
            "{name}"
        );
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: taro@example.jp"), "{text}");
        assert!(text.contains("Subject: Your login code"), "{text}");
        assert!(text.contains("Your code is 123456."), "{text}");
        assert!(text.contains("It is valid for 10 minutes."), "{text}");
        assert!(
            text.contains("Message-ID: <") && text.contains("@localhost>"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&outbox).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "outbox is private: {mode:o}");
        }
    }

    #[test]
    fn a_bad_sender_fails_at_start_naming_the_setting() {
        let err = Mailer::from_config(&config(&[("KAGI_MAIL_FROM", "not an address")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mail_from") && err.contains("KAGI_MAIL_FROM"),
            "{err}"
        );
    }

    #[test]
    fn every_documented_smtp_url_form_builds_and_hides_its_password() {
        for url in [
            "smtp://mail.example.jp:25",
            "smtp://user:s3cr3t-pw@mail.example.jp:587?tls=required",
            "smtps://user:s3cr3t-pw@mail.example.jp:465",
        ] {
            let mailer = Mailer::from_config(&config(&[("KAGI_SMTP_URL", url)]))
                .unwrap_or_else(|e| panic!("{url}: {e:#}"));
            let debug = format!("{mailer:?}");
            assert!(!debug.contains("s3cr3t-pw"), "{debug}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_smtp_server_is_an_internal_error_without_the_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("smtp://127.0.0.1:{port}");
        let mailer = Mailer::from_config(&config(&[("KAGI_SMTP_URL", &url)])).unwrap();
        let mail = OutgoingMail {
            to: vec![Email::parse("taro@example.jp").unwrap()],
            subject: "s".to_owned(),
            body: "b".to_owned(),
        };

        let err = mailer.send(&mail).await.unwrap_err();

        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        let chain = format!("{err:#?}");
        assert!(!chain.contains("taro"), "{chain}");
    }

    #[test]
    fn the_default_sender_is_accepted() {
        assert!(Mailer::from_config(&config(&[])).is_ok());
    }

    #[tokio::test]
    async fn a_mail_without_recipients_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::from_config(&config(&[(
            "KAGI_OUTBOX_DIR",
            dir.path().to_str().unwrap(),
        )]))
        .unwrap();
        let mail = OutgoingMail {
            to: Vec::new(),
            subject: "s".to_owned(),
            body: "b".to_owned(),
        };
        assert!(matches!(mailer.send(&mail).await, Err(Error::Invalid(_))));
    }
}
