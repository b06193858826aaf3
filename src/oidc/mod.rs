//! OpenID Connect and OAuth protocol rules, as functions over `model` types.
//! No HTTP here: `http/` extracts, calls in, and responds.

pub mod acr;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod client_jwks;
pub mod decision;
pub mod discovery;
pub mod error;
pub mod grant;
pub mod introspection;
pub mod jwt;
pub mod logout;
pub mod par;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod request;
pub mod signing_keys;
pub mod token;
pub mod tokens;
