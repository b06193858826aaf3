//! Customer journeys in a real headless Chromium (`docs/testing.md`): the customer guide's
//! steps on Kagi's hosted pages, the trading demo relying party and a native
//! app's loopback redirect. Each test starts chromedriver with a fresh
//! profile and, for passkeys, the WebAuthn virtual authenticator; on failure
//! the screenshot and page HTML paths are printed.

mod demo;
mod languages;
mod login;
mod native;
mod passkeys;
mod steps;
mod transactions;
