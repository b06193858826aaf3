//! Cryptographic building blocks and the keys Kagi holds.
//!
//! Signing key material and the key ring that rotates it, clients' fetched
//! key sets, password hashing, random handles, hashing of stored secrets and
//! constant-time comparison. The key ring, the client key sets and the password hasher are held in the
//! shared state, which `authn` and `oidc` take, so they live below both.

pub(crate) mod client_jwks;
pub(crate) mod compare;
pub(crate) mod dpop_nonce;
pub mod jcs;
pub mod keys;
pub mod password;
pub mod random;
pub mod seal;
pub(crate) mod signing_keys;
