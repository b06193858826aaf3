//! DPoP (RFC 9449) and the FAPI 2.0 Security Profile: proofs at every
//! endpoint, bound tokens, nonces, the native app's key, and `--profile fapi2`.

mod fapi2;
mod native;
mod proofs;
mod tokens;
