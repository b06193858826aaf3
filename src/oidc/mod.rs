//! OpenID Connect and OAuth protocol rules, as functions over `model` types.
//! No HTTP here: `http/` extracts, calls in, and responds.

pub(crate) mod acr;
pub(crate) mod authorize;
pub(crate) mod backchannel;
pub(crate) mod claims;
pub(crate) mod client_auth;
pub(crate) mod decision;
pub(crate) mod discovery;
pub(crate) mod error;
pub(crate) mod grant;
pub(crate) mod introspection;
pub mod jwt;
pub(crate) mod logout;
pub(crate) mod par;
pub(crate) mod params;
pub(crate) mod pkce;
pub(crate) mod redirect_uri;
pub(crate) mod request;
pub mod token;
pub(crate) mod tokens;
