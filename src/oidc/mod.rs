//! OpenID Connect and OAuth protocol rules, as functions over `model` types.
//! No HTTP here: `http/` extracts, calls in, and responds.

pub(crate) mod acr;
pub(crate) mod authorization_details;
pub(crate) mod authorize;
pub(crate) mod backchannel;
pub(crate) mod claims;
pub(crate) mod client_auth;
pub(crate) mod decision;
pub(crate) mod discovery;
pub(crate) mod dpop;
pub(crate) mod dpop_binding;
pub(crate) mod error;
pub(crate) mod fapi;
pub(crate) mod grant_context;
pub mod grants;
pub(crate) mod introspection;
pub(crate) mod issue;
pub mod jwt;
pub(crate) mod logout;
pub(crate) mod par;
pub(crate) mod params;
pub(crate) mod pkce;
pub(crate) mod redirect_uri;
pub(crate) mod request;
