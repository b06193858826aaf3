//! Typed security events for the audit trail (`docs/operations.md#audit-trail`).
//!
//! Security events go here, not to the logs: the trail is queryable with
//! `kagi audit` and is kept in the database shared by every node.

use serde::Serialize;
use serde_json::Value;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditKind {
    /// An operator registered a customer.
    CustomerCreated,
    /// An operator registered a client.
    ClientCreated,
    /// An operator lifted a customer's lock.
    CustomerUnlocked,
    /// An operator removed a customer's passkeys.
    PasskeysRemovedByOperator,
    /// Signing keys were generated (first start or rotation).
    SigningKeysGenerated,
    /// Signing keys past their publication window were deleted.
    SigningKeysPruned,
    /// A login (or step-up) completed.
    LoginSucceeded,
    /// A login step failed (detail says which and why).
    LoginFailed,
    /// Too many wrong passwords locked the account.
    AccountLocked,
    /// An email code was sent.
    EmailCodeSent,
    /// Too many wrong TOTP codes locked the authenticator app factor.
    TotpLocked,
    /// An authenticator app was enrolled.
    TotpEnrolled,
    /// A session was ended by its customer or by logout.
    SessionEnded,
    /// A customer registered a passkey.
    PasskeyAdded,
    /// A customer deleted a passkey.
    PasskeyRemoved,
    /// A customer renamed a passkey.
    PasskeyRenamed,
    /// A passkey registration was refused (detail says why).
    PasskeyRegistrationFailed,
    /// A passkey login or step-up was refused (detail says why).
    PasskeyLoginFailed,
    /// A transaction (`authorization_details`) was confirmed with a passkey; the detail names the `txn` of its evidence.
    TransactionConfirmed,
    /// A transaction confirmation was refused (bad assertion, expired ceremony, a second one for the request).
    TransactionConfirmationFailed,
    /// A sensitive action was refused until the customer steps up.
    StepUpRequired,
    /// An authorization code was issued to a client.
    CodeIssued,
    /// Tokens were issued at the token endpoint.
    TokensIssued,
    /// A used code or refresh token was presented again; its grant was revoked.
    TokenReuseDetected,
    /// A client failed to authenticate at a back-channel endpoint.
    ClientAuthFailed,
    /// An authorization ended in an error sent to the client.
    AuthorizationDenied,
    /// A client revoked a token (RFC 7009); its grant or access token is dead.
    TokenRevoked,
    /// A back-channel logout token reached a relying party.
    BackchannelLogoutSent,
    /// A back-channel logout token could not be delivered after every retry.
    BackchannelLogoutFailed,
}

impl AuditKind {
    /// The stable name stored and shown (`noun.verb`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::CustomerCreated => "customer.created",
            AuditKind::ClientCreated => "client.created",
            AuditKind::CustomerUnlocked => "customer.unlocked",
            AuditKind::PasskeysRemovedByOperator => "passkey.removed_by_operator",
            AuditKind::SigningKeysGenerated => "keys.generated",
            AuditKind::SigningKeysPruned => "keys.pruned",
            AuditKind::LoginSucceeded => "login.succeeded",
            AuditKind::LoginFailed => "login.failed",
            AuditKind::AccountLocked => "account.locked",
            AuditKind::EmailCodeSent => "email_code.sent",
            AuditKind::TotpLocked => "totp.locked",
            AuditKind::TotpEnrolled => "totp.enrolled",
            AuditKind::SessionEnded => "session.ended",
            AuditKind::PasskeyAdded => "passkey.added",
            AuditKind::PasskeyRemoved => "passkey.removed",
            AuditKind::PasskeyRenamed => "passkey.renamed",
            AuditKind::PasskeyRegistrationFailed => "passkey.registration_failed",
            AuditKind::PasskeyLoginFailed => "passkey.login_failed",
            AuditKind::TransactionConfirmed => "transaction.confirmed",
            AuditKind::TransactionConfirmationFailed => "transaction.confirmation_failed",
            AuditKind::StepUpRequired => "step_up.required",
            AuditKind::CodeIssued => "code.issued",
            AuditKind::TokensIssued => "tokens.issued",
            AuditKind::TokenReuseDetected => "token.reuse_detected",
            AuditKind::ClientAuthFailed => "client.auth_failed",
            AuditKind::AuthorizationDenied => "authorization.denied",
            AuditKind::TokenRevoked => "token.revoked",
            AuditKind::BackchannelLogoutSent => "logout.backchannel_sent",
            AuditKind::BackchannelLogoutFailed => "logout.backchannel_failed",
        }
    }
}

/// Whether the event was a success, a failure or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The action succeeded.
    Success,
    /// The action was refused or failed.
    Failure,
    /// A fact worth recording.
    Info,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Info => "info",
        }
    }
}

/// One event to record; build it with [`AuditEvent::new`] and the `with_*` setters.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// Success, failure or info.
    pub outcome: Outcome,
    /// The customer concerned (`sub`).
    pub customer_id: Option<String>,
    /// The customer code concerned, also kept for failed logins of unknown codes.
    pub customer_code: Option<String>,
    /// The client concerned.
    pub client_id: Option<String>,
    /// The client IP.
    pub ip: Option<String>,
    /// Structured detail (never secrets).
    pub detail: Value,
}

impl AuditEvent {
    /// An event with no subject and empty detail.
    pub fn new(kind: AuditKind, outcome: Outcome) -> Self {
        Self {
            kind,
            outcome,
            customer_id: None,
            customer_code: None,
            client_id: None,
            ip: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// Names the customer.
    pub fn with_customer(mut self, id: &str, code: &str) -> Self {
        self.customer_id = Some(id.to_owned());
        self.customer_code = Some(code.to_owned());
        self
    }

    /// Names a customer code that matched no customer (failed logins).
    pub fn with_customer_code(mut self, code: &str) -> Self {
        self.customer_code = Some(code.chars().take(64).collect());
        self
    }

    /// Records the client IP.
    pub fn with_ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.to_owned());
        self
    }

    /// Names the client.
    pub fn with_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// Attaches structured detail.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored event, as `kagi audit` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// Sequence number.
    pub id: i64,
    /// Unix time.
    pub at: i64,
    /// Event name.
    pub kind: String,
    /// Outcome name.
    pub outcome: String,
    /// Customer `sub`.
    pub customer_id: Option<String>,
    /// Customer code.
    pub customer_code: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Detail object.
    pub detail: Value,
}
