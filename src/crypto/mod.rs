//! Cryptographic building blocks: signing key material, random handles,
//! hashing of stored secrets and constant-time comparison.

pub mod compare;
pub mod keys;
pub mod random;
pub mod seal;
