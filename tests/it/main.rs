//! Kagi's integration tests: one binary, each test against a freshly spawned
//! server and its own database, on SQLite and on PostgreSQL.

#![expect(clippy::unwrap_used, reason = "a test fails loudly by unwrapping")]

mod helpers;

mod cli;
mod keys;
mod login;
mod mail;
mod oidc;
mod server;
mod totp;
