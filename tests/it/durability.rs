//! Crash durability of the token endpoint: the real `kagi serve` is killed
//! with SIGKILL right after it answered, restarted on the same database and
//! keys, and every refresh token a client last received must still work.
//!
//! A token response may only be sent once everything it promises is
//! committed (docs/write-path.md); a write left for after the response, or
//! a commit the crash can undo, shows here as a refresh token that the
//! restarted server no longer knows.

use crate::both_backends;
use crate::fuzz::{Rng, Server, add_customer, client, log_in, wait_ready};
use crate::helpers::rp::pkce_pair;
use crate::helpers::smtp::SmtpServer;
use crate::helpers::{Backend, TestDatabase};

both_backends!(every_refresh_token_answered_before_a_sigkill_still_works_after_the_restart);

/// Clients, each with its own token family.
const FAMILIES: usize = 4;
/// Kill-and-restart rounds.
const ROUNDS: usize = 15;
/// Most rotations of one family in one round.
const MAX_ROTATIONS: usize = 3;
const SEED: u64 = 0x0064_7572_6162_6c65;

/// One registered confidential client and the refresh tokens it was given, newest last.
struct Family {
    client_id: String,
    secret: String,
    redirect_uri: String,
    tokens: Vec<String>,
}

/// `POST /token` with HTTP Basic; the status and JSON body.
async fn token(base: &str, family: &Family, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = client(false, base)
        .post(format!("{base}/token"))
        .basic_auth(&family.client_id, Some(&family.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn refresh(base: &str, family: &Family, refresh_token: &str) -> (u16, serde_json::Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token(base, family, &form).await
}

/// Registers the customer and the clients through the CLI.
fn register(server: &Server) -> Vec<Family> {
    add_customer(server);
    (0..FAMILIES)
        .map(|i| {
            let client_id = format!("rp{i}");
            let redirect_uri = format!("http://localhost:9/cb{i}");
            let out = crate::helpers::run_cli(
                &server.env,
                &[
                    "--json",
                    "client",
                    "add",
                    "--client-id",
                    &client_id,
                    "--name",
                    &client_id,
                    "--redirect-uri",
                    &redirect_uri,
                ],
                None,
            );
            assert!(out.success, "{out:?}");
            let secret = out.json()["client_secret"].as_str().unwrap().to_owned();
            Family {
                client_id,
                secret,
                redirect_uri,
                tokens: Vec::new(),
            }
        })
        .collect()
}

/// A code flow for `family` in the logged-in browser `http`; returns the first refresh token.
async fn first_refresh_token(http: &reqwest::Client, base: &str, family: &Family) -> String {
    let (verifier, challenge) = pkce_pair();
    let query = serde_urlencoded::to_string([
        ("client_id", family.client_id.as_str()),
        ("redirect_uri", &family.redirect_uri),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st4te"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let page = http
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", &family.redirect_uri),
        ("code_verifier", &verifier),
    ];
    let (status, json) = token(base, family, &form).await;
    assert_eq!(status, 200, "{json}");
    json["refresh_token"].as_str().unwrap().to_owned()
}

fn kill(server: &mut Server) {
    // Child::kill sends SIGKILL: no shutdown hook, no flush, no destructor runs.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

async fn crash_and_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(backend, dir.path()).await;
    let smtp = SmtpServer::start().await;
    let mut server = Server::start(&db, dir.path(), &smtp);
    wait_ready(&server.base).await;
    let mut families = register(&server);
    let browser = client(true, &server.base);
    log_in(&browser, &server.base, &smtp).await;
    for family in &mut families {
        let first = first_refresh_token(&browser, &server.base, family).await;
        family.tokens.push(first);
    }
    kill(&mut server);

    let mut rng = Rng(SEED);
    for round in 0..ROUNDS {
        server = Server::start(&db, dir.path(), &smtp);
        wait_ready(&server.base).await;
        // Every family's newest token survived the last crash, and rotates.
        for family in &mut families {
            let newest = family.tokens.last().unwrap().clone();
            let (status, json) = refresh(&server.base, family, &newest).await;
            assert_eq!(
                status, 200,
                "round {round}: {} lost its newest refresh token: {json}",
                family.client_id
            );
            family
                .tokens
                .push(json["refresh_token"].as_str().unwrap().to_owned());
        }
        // More rotations, the last one answered just before the kill.
        for family in &mut families {
            for _ in 0..rng.below(MAX_ROTATIONS + 1) {
                let newest = family.tokens.last().unwrap().clone();
                let (status, json) = refresh(&server.base, family, &newest).await;
                assert_eq!(status, 200, "round {round}: {json}");
                family
                    .tokens
                    .push(json["refresh_token"].as_str().unwrap().to_owned());
            }
        }
        let last = rng.below(FAMILIES);
        let newest = families[last].tokens.last().unwrap().clone();
        let (status, json) = refresh(&server.base, &families[last], &newest).await;
        assert_eq!(status, 200, "round {round}: {json}");
        kill(&mut server);
        families[last]
            .tokens
            .push(json["refresh_token"].as_str().unwrap().to_owned());
    }

    server = Server::start(&db, dir.path(), &smtp);
    wait_ready(&server.base).await;
    for family in &families {
        let newest = family.tokens.last().unwrap();
        let (status, json) = refresh(&server.base, family, newest).await;
        assert_eq!(status, 200, "{}: {json}", family.client_id);
        // The token before it was exchanged long ago (or a round earlier):
        // presenting it now is a reuse, and revokes the family (RFC 9700 §4.14.2).
        let older = &family.tokens[family.tokens.len() - 2];
        let (status, json) = refresh(&server.base, family, older).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

async fn every_refresh_token_answered_before_a_sigkill_still_works_after_the_restart(
    backend: Backend,
) {
    crash_and_restart(backend).await;
}
