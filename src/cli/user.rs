//! `kagi user add|totp-enroll|unlock|passkeys|remove-passkeys`.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Subcommand;
use secrecy::SecretString;

use super::Output;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::authn::totp;
use crate::clock::rfc3339;
use crate::config::Config;
use crate::crypto::seal::DataKey;
use crate::crypto::{password, random};
use crate::model::{Customer, CustomerCode, Email};
use crate::store::Store;
use crate::store::customers::NewCustomer;
use crate::templates::mails::PasskeyChangeMail;

/// Customer commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a customer; the login password is read from standard input.
    Add {
        /// The broker's customer code.
        #[arg(long)]
        customer_code: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A registered email address (one to three).
        #[arg(long = "email", required = true)]
        emails: Vec<String>,
        /// Read the password from standard input (the only way, so it never shows in `ps`).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Enrol an authenticator app for a customer; prints the `otpauth://` URI to give them.
    TotpEnroll {
        /// The customer code.
        #[arg(long)]
        customer_code: String,
    },
    /// Lift a password or TOTP lock.
    Unlock {
        /// The customer code.
        #[arg(long)]
        customer_code: String,
    },
    /// List a customer's passkeys.
    Passkeys {
        /// The customer code.
        #[arg(long)]
        customer_code: String,
    },
    /// Remove all of a customer's passkeys (lost device).
    RemovePasskeys {
        /// The customer code.
        #[arg(long)]
        customer_code: String,
    },
}

pub(super) async fn run(cmd: UserCommand, config: &Config, out: &Output) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            customer_code,
            name,
            emails,
            password_stdin: _,
        } => add(config, out, &customer_code, &name, &emails).await,
        UserCommand::TotpEnroll { customer_code } => totp_enroll(config, out, &customer_code).await,
        UserCommand::Unlock { customer_code } => unlock(config, out, &customer_code).await,
        UserCommand::Passkeys { customer_code } => passkeys(config, out, &customer_code).await,
        UserCommand::RemovePasskeys { customer_code } => {
            remove_passkeys(config, out, &customer_code).await
        }
    }
}

async fn add(
    config: &Config,
    out: &Output,
    code: &str,
    name: &str,
    emails: &[String],
) -> anyhow::Result<()> {
    let code = CustomerCode::parse(code)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        bail!("a name has 1 to 200 characters");
    }
    if emails.len() > 3 {
        bail!("a customer has at most three email addresses");
    }
    let emails = emails
        .iter()
        .map(|e| Email::parse(e))
        .collect::<Result<Vec<_>, _>>()?;
    let password = read_password()?;
    let blocklist = match &config.password_blocklist {
        Some(path) => password::load_blocklist(path)?,
        None => Vec::new(),
    };
    password::check_policy(&password, code.as_str(), &blocklist)?;
    let (store, clock) = super::open_store(config).await?;
    let hash = password::Hasher::new(1).hash(password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let webauthn_user_id = URL_SAFE_NO_PAD.encode(random::bytes::<16>());
    let new = NewCustomer {
        id: &id,
        customer_code: &code,
        name,
        password_hash: &hash,
        webauthn_user_id: &webauthn_user_id,
        emails: &emails,
    };
    store.insert_customer(&new, clock.now()).await?;
    let event = AuditEvent::new(AuditKind::CustomerCreated, Outcome::Success)
        .with_customer(&id, code.as_str());
    store.insert_audit_event(&event, clock.now()).await?;
    out.print(
        &serde_json::json!({ "sub": id, "customer_code": code.as_str() }),
        &format!("customer {code} registered, sub {id}"),
    );
    Ok(())
}

/// Reads the whole of standard input, dropping one trailing line break.
fn read_password() -> anyhow::Result<SecretString> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from standard input")?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(SecretString::from(trimmed.to_owned()))
}

async fn customer(store: &Store, code: &str) -> anyhow::Result<Customer> {
    let code = CustomerCode::parse(code)?;
    store
        .find_customer_by_code(&code)
        .await?
        .with_context(|| format!("no customer has code {code}"))
}

async fn totp_enroll(config: &Config, out: &Output, code: &str) -> anyhow::Result<()> {
    let (store, clock) = super::open_store(config).await?;
    let customer = customer(&store, code).await?;
    let data_key = DataKey::load_or_create(&config.keys_dir)?;
    let secret = totp::new_secret();
    let sealed = data_key.seal(&secret, customer.id.as_bytes())?;
    store
        .enroll_totp(&customer.id, &sealed, clock.now())
        .await?;
    let event = AuditEvent::new(AuditKind::TotpEnrolled, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_detail(serde_json::json!({ "by": "operator" }));
    store.insert_audit_event(&event, clock.now()).await?;
    let uri = totp::otpauth_uri(&secret, "Kagi", customer.customer_code.as_str());
    out.print(
        &serde_json::json!({ "sub": customer.id, "otpauth_uri": uri }),
        &format!(
            "authenticator app enrolled for {}\n{uri}",
            customer.customer_code
        ),
    );
    Ok(())
}

async fn unlock(config: &Config, out: &Output, code: &str) -> anyhow::Result<()> {
    let (store, clock) = super::open_store(config).await?;
    let customer = customer(&store, code).await?;
    store
        .unlock_customer(&customer.customer_code, clock.now())
        .await?;
    let event = AuditEvent::new(AuditKind::CustomerUnlocked, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str());
    store.insert_audit_event(&event, clock.now()).await?;
    out.print(
        &serde_json::json!({ "sub": customer.id, "unlocked": true }),
        &format!("customer {} unlocked", customer.customer_code),
    );
    Ok(())
}

async fn passkeys(config: &Config, out: &Output, code: &str) -> anyhow::Result<()> {
    let (store, _) = super::open_store(config).await?;
    let customer = customer(&store, code).await?;
    let keys = store.list_passkeys(&customer.id).await?;
    let text = keys
        .iter()
        .map(|k| {
            let used = k
                .last_used_at
                .map(rfc3339)
                .unwrap_or_else(|| "never".into());
            format!(
                "{}  {}  \"{}\"  added {}  last used {}",
                k.credential_id,
                k.provider,
                k.nickname,
                rfc3339(k.created_at),
                used
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.print(
        &serde_json::json!({ "sub": customer.id, "passkeys": keys }),
        if text.is_empty() {
            "no passkeys"
        } else {
            &text
        },
    );
    Ok(())
}

async fn remove_passkeys(config: &Config, out: &Output, code: &str) -> anyhow::Result<()> {
    let (store, clock) = super::open_store(config).await?;
    let customer = customer(&store, code).await?;
    let listed = store.list_passkeys(&customer.id).await?;
    let removed = store.delete_all_passkeys(&customer.id).await?;
    let event = AuditEvent::new(AuditKind::PasskeysRemovedByOperator, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_detail(serde_json::json!({ "removed": removed }));
    store.insert_audit_event(&event, clock.now()).await?;
    if removed > 0 {
        notify_removal(config, &customer, &listed, clock.now()).await?;
    }
    out.print(
        &serde_json::json!({ "sub": customer.id, "removed": removed }),
        &format!("removed {removed} passkey(s) of {}", customer.customer_code),
    );
    Ok(())
}

/// Mails the "passkey deleted" notice to every address of `customer`, naming
/// the providers of the removed passkeys (`docs/product.md#notices`: removals are announced,
/// whoever makes them). Operators act for customers who call in, so the
/// notice is in Japanese, the customers' default language.
async fn notify_removal(
    config: &Config,
    customer: &Customer,
    removed: &[crate::store::passkeys::PasskeySummary],
    now: i64,
) -> anyhow::Result<()> {
    let templates = crate::templates::Templates::load()?;
    let lang = crate::templates::Lang::Ja;
    let mut providers: Vec<String> = removed
        .iter()
        .map(|p| {
            if p.provider.is_empty() {
                templates.text(lang, "passkey.provider_unknown")
            } else {
                p.provider.clone()
            }
        })
        .collect();
    providers.dedup();
    let ctx = PasskeyChangeMail {
        name: &customer.name,
        provider: providers.join(", "),
        at: rfc3339(now),
    };
    let (subject, body) = templates.render_mail("passkey_removed", lang, ctx)?;
    let mail = crate::mail::OutgoingMail {
        to: customer.emails.clone(),
        subject,
        body,
    };
    crate::mail::Mailer::from_config(config)?
        .send(&mail)
        .await
        .context("the passkeys are removed, but the notice could not be sent")?;
    Ok(())
}
