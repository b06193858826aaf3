//! Kagi's integration tests: one binary, each test against a freshly spawned
//! server and its own database, on SQLite and on PostgreSQL.

#![expect(clippy::unwrap_used, reason = "a test fails loudly by unwrapping")]

mod helpers;

mod browser;
mod cli;
mod client_auth;
mod concurrency;
mod docs;
mod dpop;
mod durability;
mod fuzz;
mod grants;
mod keys;
mod login;
mod logout_and_tokens;
mod mail;
mod oidc;
mod passkeys;
mod redirects;
mod resilience;
mod server;
mod sessions;
mod startup;
mod step_up;
mod structure;
mod totp;
mod transactions;
mod write_path;
