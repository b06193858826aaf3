//! The JWK sets of `private_key_jwt` clients registered with a `jwks_uri`
//! (RFC 7523 §3, OIDC Core §10.1.1), fetched from the client and kept in
//! memory on each node.
//!
//! Whoever posts to `/token` decides when Kagi calls a client's `jwks_uri`,
//! before anything is authenticated, so the fetch is fenced in (the threat
//! is server-side request forgery and traffic amplification; see
//! `docs/security.md`):
//! - a set is used for `client_jwks_cache_secs`; an assertion with an unknown
//!   `kid` (the client rotated its keys, OIDC Core §10.1.1) or a failed fetch
//!   leads to a new fetch at most once per `client_jwks_refetch_secs`, and
//!   concurrent requests share one fetch;
//! - the host is resolved once, every address must be public (not private,
//!   loopback, link-local, unspecified, multicast or reserved) unless
//!   `client_jwks_allow_private` is set, and the connection goes to exactly
//!   those checked addresses, so a second DNS answer cannot point it elsewhere;
//! - redirects are not followed, proxies from the environment are not used,
//!   and the exchange is bounded by `client_jwks_timeout_secs` and
//!   `client_jwks_max_bytes`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use jsonwebtoken::jwk::JwkSet;

use crate::config::Config;
use crate::outbound;

/// One client's cached set: what was fetched from which URI, and when it was last tried.
#[derive(Debug)]
struct Entry {
    uri: String,
    /// `None` when the last fetch failed.
    keys: Option<Arc<JwkSet>>,
    fetched_at: i64,
}

/// Per-client caches of fetched JWK sets.
#[derive(Debug, Default)]
pub struct ClientJwks {
    /// One slot per client; its async lock is held across a fetch, so
    /// concurrent requests for the same client wait for that one fetch.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Entry>>>>>,
}

/// Whether a cached entry must be fetched again for an assertion naming `kid`.
fn needs_fetch(
    entry: Option<&Entry>,
    uri: &str,
    kid: Option<&str>,
    now: i64,
    config: &Config,
) -> bool {
    let Some(entry) = entry.filter(|e| e.uri == uri) else {
        return true;
    };
    let age = now - entry.fetched_at;
    if age >= config.client_jwks_cache_secs || age < 0 {
        return true;
    }
    let may_refetch = age >= config.client_jwks_refetch_secs;
    match &entry.keys {
        None => may_refetch,
        Some(keys) => {
            let unknown_kid = kid.is_some_and(|kid| {
                !keys
                    .keys
                    .iter()
                    .any(|k| k.common.key_id.as_deref() == Some(kid))
            });
            unknown_kid && may_refetch
        }
    }
}

impl ClientJwks {
    /// The key set of `client_id` published at `uri`, fetched only when the
    /// cached one is too old, or lacks `kid` and the last fetch is old enough.
    pub async fn keys(
        &self,
        config: &Config,
        now: i64,
        client_id: &str,
        uri: &str,
        kid: Option<&str>,
    ) -> Option<Arc<JwkSet>> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(client_id.to_owned()).or_default().clone()
        };
        let mut entry = slot.lock().await;
        if needs_fetch(entry.as_ref(), uri, kid, now, config) {
            let keys = match fetch(config, uri).await {
                Ok(keys) => Some(Arc::new(keys)),
                Err(e) => {
                    tracing::warn!(client.id = client_id, error = %format!("{e:#}"), "cannot fetch the client's jwks_uri");
                    None
                }
            };
            *entry = Some(Entry {
                uri: uri.to_owned(),
                keys,
                fetched_at: now,
            });
        }
        entry.as_ref().and_then(|e| e.keys.clone())
    }
}

/// Fetches and parses a JWK set within the configured limits.
async fn fetch(config: &Config, uri: &str) -> anyhow::Result<JwkSet> {
    let limit = Duration::from_secs(config.client_jwks_timeout_secs);
    tokio::time::timeout(limit, fetch_unbounded(config, uri))
        .await
        .map_err(|_| anyhow!("no answer within {limit:?}"))?
}

async fn fetch_unbounded(config: &Config, uri: &str) -> anyhow::Result<JwkSet> {
    let url = url::Url::parse(uri).context("jwks_uri is not a URL")?;
    let target = outbound::checked(&url, config.client_jwks_allow_private).await?;
    let http = target.client(Duration::from_secs(config.client_jwks_timeout_secs))?;
    let response = http
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .send()
        .await
        .context("request failed")?;
    if response.status() != reqwest::StatusCode::OK {
        bail!("jwks_uri answered {}", response.status());
    }
    let body = read_at_most(response, config.client_jwks_max_bytes).await?;
    serde_json::from_slice(&body).context("jwks_uri did not return a JWK set")
}

/// The body, refused as soon as it passes `max` bytes (announced or sent).
async fn read_at_most(mut response: reqwest::Response, max: usize) -> anyhow::Result<Vec<u8>> {
    let too_big = || anyhow!("jwks_uri body is larger than {max} bytes");
    if response
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > max))
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.context("reading the body failed")? {
        if body.len() + chunk.len() > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_sources(Vec::new()).unwrap()
    }

    fn entry(kids: &[&str], fetched_at: i64) -> Entry {
        let keys = kids
            .iter()
            .map(|kid| {
                serde_json::json!({ "kty": "EC", "crv": "P-256", "kid": kid,
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" })
            })
            .collect::<Vec<_>>();
        Entry {
            uri: "https://rp.example.com/jwks".into(),
            keys: Some(Arc::new(
                serde_json::from_value(serde_json::json!({ "keys": keys })).unwrap(),
            )),
            fetched_at,
        }
    }

    #[test]
    fn a_cached_set_is_refetched_when_old_or_when_a_kid_is_unknown_at_most_once_per_interval() {
        let config = config();
        let uri = "https://rp.example.com/jwks";
        let (ttl, refetch) = (
            config.client_jwks_cache_secs,
            config.client_jwks_refetch_secs,
        );
        let cached = entry(&["k1"], 1000);
        assert!(needs_fetch(None, uri, None, 1000, &config));
        assert!(!needs_fetch(
            Some(&cached),
            uri,
            Some("k1"),
            1000 + ttl - 1,
            &config
        ));
        assert!(needs_fetch(
            Some(&cached),
            uri,
            Some("k1"),
            1000 + ttl,
            &config
        ));
        assert!(!needs_fetch(
            Some(&cached),
            uri,
            Some("k2"),
            1000 + refetch - 1,
            &config
        ));
        assert!(needs_fetch(
            Some(&cached),
            uri,
            Some("k2"),
            1000 + refetch,
            &config
        ));
        assert!(!needs_fetch(
            Some(&cached),
            uri,
            None,
            1000 + refetch,
            &config
        ));
        assert!(needs_fetch(
            Some(&cached),
            "https://rp.example.com/other",
            Some("k1"),
            1000,
            &config
        ));
        let failed = Entry {
            keys: None,
            ..entry(&[], 1000)
        };
        assert!(!needs_fetch(
            Some(&failed),
            uri,
            Some("k1"),
            1000 + refetch - 1,
            &config
        ));
        assert!(needs_fetch(
            Some(&failed),
            uri,
            Some("k1"),
            1000 + refetch,
            &config
        ));
    }
}
