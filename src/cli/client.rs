//! `kagi client add`: register a relying party.

use anyhow::bail;
use clap::Subcommand;

use super::Output;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::config::Config;
use crate::crypto::random;
use crate::model::{AuthMethod, Client, ClientId, Profile, RedirectKind, RedirectUri, SigningAlg};
use crate::oidc::authorization_details::SUPPORTED_TYPES;
use crate::oidc::fapi;

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. Clients authenticating with a secret get a generated one, shown once.
    Add(Box<AddArgs>),
}

/// Options of `kagi client add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Client identifier.
    #[arg(long)]
    client_id: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Redirect URI (repeatable): https, http on a loopback host, or (public clients) a private-use scheme.
    #[arg(long = "redirect-uri", required = true)]
    redirect_uris: Vec<String>,
    /// A public (native) client: no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// Token endpoint authentication: `client_secret_basic` (default), `client_secret_post`,
    /// `private_key_jwt`, or `none` (public clients).
    #[arg(long)]
    auth_method: Option<String>,
    /// Where RP-initiated logout may send the browser back to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout endpoint.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// `acr` the client requires (e.g. `phr`).
    #[arg(long)]
    require_acr: Option<String>,
    /// When `--require-acr` starts to apply: `YYYY-MM-DD` (midnight in Japan, +09:00) or RFC 3339.
    #[arg(long)]
    require_acr_from: Option<String>,
    /// Require PKCE of a confidential client too (public clients always need it).
    #[arg(long)]
    require_pkce: bool,
    /// ID token signing algorithm: `RS256` (default; `ES256` for `--profile fapi2`), `ES256`, `PS256`, `EdDSA`.
    #[arg(long)]
    id_token_alg: Option<String>,
    /// URL of the client's JWK set, for `private_key_jwt`.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// The client's JWK set as JSON, for `private_key_jwt`.
    #[arg(long)]
    jwks: Option<String>,
    /// A third-party client: customers see a consent page (first-party clients skip it).
    #[arg(long)]
    third_party: bool,
    /// Accept only pushed authorization requests from this client (RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// An RFC 9396 `authorization_details` type the client may send (repeatable):
    /// `withdrawal`, `order`.
    #[arg(long = "authorization-details-type")]
    authorization_details_types: Vec<String>,
    /// Every token request must carry a DPoP proof, so every access token is bound to the client's key (RFC 9449).
    #[arg(long)]
    require_dpop: bool,
    /// Hold the client to a security profile: `fapi2` (FAPI 2.0 Security Profile: `private_key_jwt`,
    /// PAR, PKCE S256, DPoP, PS256/ES256/`EdDSA`, https redirect URIs).
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
}

/// The values of `--profile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    /// The FAPI 2.0 Security Profile (`oidc::fapi`).
    Fapi2,
}

pub(super) async fn run(cmd: ClientCommand, config: &Config, out: &Output) -> anyhow::Result<()> {
    let ClientCommand::Add(args) = cmd;
    let (store, clock) = super::open_store(config).await?;
    let (client, secret) = build(*args, clock.now())?;
    store.insert_client(&client).await?;
    let event = AuditEvent::new(AuditKind::ClientCreated, Outcome::Success)
        .with_client(client.client_id.as_str())
        .with_detail(serde_json::json!({
            "public": client.public,
            "auth_method": client.auth_method.as_str(),
            "require_dpop": client.require_dpop,
            "profile": client.profile.as_str(),
        }));
    store.insert_audit_event(&event, clock.now()).await?;
    let text = match &secret {
        Some(s) => format!(
            "client {} registered\nclient_secret: {s}\n(shown once; only its hash is stored)",
            client.client_id
        ),
        None if client.public => format!("public client {} registered", client.client_id),
        None => format!(
            "client {} registered; it authenticates with {} and has no secret",
            client.client_id,
            client.auth_method.as_str()
        ),
    };
    out.print(
        &serde_json::json!({ "client_id": client.client_id.as_str(), "client_secret": secret }),
        &text,
    );
    Ok(())
}

/// Validates the arguments into a client and, for clients that authenticate
/// with a secret (`client_secret_basic`/`_post`), a new secret.
fn build(args: AddArgs, now: i64) -> anyhow::Result<(Client, Option<String>)> {
    let client_id = ClientId::parse(&args.client_id)?;
    let name = args.name.trim().to_owned();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    let profile = match args.profile {
        Some(ProfileArg::Fapi2) => Profile::Fapi2,
        None => Profile::Oidc,
    };
    let fapi2 = profile == Profile::Fapi2;
    let auth_method = match (&args.auth_method, args.public) {
        (Some(m), _) => AuthMethod::parse(m)?,
        (None, true) => AuthMethod::None,
        (None, false) if fapi2 => AuthMethod::PrivateKeyJwt,
        (None, false) => AuthMethod::ClientSecretBasic,
    };
    match (args.public, auth_method) {
        (true, AuthMethod::None)
        | (false, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost) => {}
        (false, AuthMethod::PrivateKeyJwt) if args.jwks.is_some() || args.jwks_uri.is_some() => {}
        (false, AuthMethod::PrivateKeyJwt) => bail!("private_key_jwt needs --jwks or --jwks-uri"),
        (true, _) => bail!("a public client authenticates with `none`"),
        (false, AuthMethod::None) => bail!("only --public clients may use `none`"),
    }
    let redirect_uris = args
        .redirect_uris
        .iter()
        .map(|u| RedirectUri::parse(u, args.public))
        .collect::<Result<Vec<_>, _>>()?;
    let post_logout = args
        .post_logout_redirect_uris
        .iter()
        .map(|u| RedirectUri::parse(u, args.public).map(|r| r.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let backchannel = args
        .backchannel_logout_uri
        .as_deref()
        .map(web_endpoint)
        .transpose()?;
    let jwks_uri = args.jwks_uri.as_deref().map(web_endpoint).transpose()?;
    if let Some(jwks) = &args.jwks {
        serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(jwks)
            .map_err(|e| anyhow::anyhow!("--jwks is not a JWK set: {e}"))?;
    }
    let require_acr_from = args
        .require_acr_from
        .as_deref()
        .map(parse_start)
        .transpose()?;
    if require_acr_from.is_some() && args.require_acr.is_none() {
        bail!("--require-acr-from needs --require-acr");
    }
    if let Some(acr) = &args.require_acr
        && (acr.trim().is_empty() || acr.contains(' '))
    {
        bail!("--require-acr takes one acr value");
    }
    let mut details_types = Vec::new();
    for kind in &args.authorization_details_types {
        if !SUPPORTED_TYPES.contains(&kind.as_str()) {
            bail!(
                "--authorization-details-type `{kind}` is not one of {}",
                SUPPORTED_TYPES.join(", ")
            );
        }
        if !details_types.contains(kind) {
            details_types.push(kind.clone());
        }
    }
    // A `private_key_jwt` client proves itself with its key (RFC 7523 §2.2);
    // a secret would be a second credential no endpoint accepts from it.
    let uses_secret = matches!(
        auth_method,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
    );
    let secret = uses_secret.then(random::handle);
    let client = Client {
        client_id,
        name,
        secret_hash: secret.as_deref().map(random::hash_secret),
        public: args.public,
        auth_method,
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        backchannel_logout_uri: backchannel,
        require_acr: args.require_acr,
        require_acr_from,
        require_pkce: args.public || args.require_pkce || fapi2,
        id_token_alg: match &args.id_token_alg {
            Some(alg) => SigningAlg::parse(alg)?,
            None if fapi2 => fapi::DEFAULT_ID_TOKEN_ALG,
            None => SigningAlg::Rs256,
        },
        jwks: args.jwks,
        jwks_uri,
        first_party: !args.third_party,
        authorization_details_types: details_types,
        require_par: args.require_par || fapi2,
        require_dpop: args.require_dpop || fapi2,
        profile,
        created_at: now,
    };
    if let Err(why) = fapi::registration(&client) {
        bail!("{why}");
    }
    Ok((client, secret))
}

/// A URL Kagi calls itself: https, or http on loopback for development.
fn web_endpoint(raw: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(raw).map_err(|e| anyhow::anyhow!("`{raw}`: {e}"))?;
    match RedirectUri::kind_of(&url) {
        Some(RedirectKind::Https | RedirectKind::Loopback) if url.fragment().is_none() => {
            Ok(raw.to_owned())
        }
        _ => bail!("`{raw}` must be https (or http on a loopback host) without a fragment"),
    }
}

/// `YYYY-MM-DD` is midnight in Japan (the broker's rules are dated in JST); anything else must be RFC 3339.
fn parse_start(raw: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let date = time::Date::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        anyhow::anyhow!("--require-acr-from `{raw}` is neither YYYY-MM-DD nor RFC 3339")
    })?;
    Ok(date
        .midnight()
        .assume_offset(time::macros::offset!(+9))
        .unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_alone_means_midnight_in_japan() {
        assert_eq!(
            parse_start("2026-05-15").unwrap(),
            parse_start("2026-05-14T15:00:00Z").unwrap()
        );
        assert!(parse_start("mid-May").is_err());
    }
}
