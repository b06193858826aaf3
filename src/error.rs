//! The domain error: what went wrong, in terms the HTTP layer and the CLI map
//! to their own answers. No HTTP types here.

/// A failure of a domain operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing already exists, or the change would break a rule about existing things.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is malformed or breaks a rule.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A service Kagi needs (the database) cannot be reached or did not answer
    /// in time; the same request may succeed later. The cause is logged,
    /// never shown.
    #[error("temporarily unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// Something broke inside Kagi; the cause is logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Shorthand for results of domain operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
