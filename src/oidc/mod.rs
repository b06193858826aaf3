//! OpenID Connect and OAuth protocol rules, as functions over `model` types.
//! No HTTP here: `http/` extracts, calls in, and responds.

pub mod discovery;
pub mod signing_keys;
