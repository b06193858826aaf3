-- Transaction-bound passkey confirmation (RFC 9396 authorization_details;
-- docs/transactions.md).

-- The authorization_details types a client may send (JSON array of strings).
ALTER TABLE clients ADD COLUMN authorization_details_types TEXT NOT NULL DEFAULT '[]';

-- One passkey assertion made for one authorization request carrying
-- authorization_details, kept as evidence: anyone can re-verify the signature
-- with public_key and recompute the challenge from authorization_details.
-- request_id is UNIQUE, so of two assertions racing for one request only the
-- first is recorded. Evidence outlives sessions and requests: no foreign keys,
-- never purged (like audit_events).
CREATE TABLE transaction_confirmations (
    txn                    TEXT PRIMARY KEY,   -- the `txn` claim of the tokens
    request_id             TEXT NOT NULL UNIQUE,
    sid                    TEXT NOT NULL,
    customer_id            TEXT NOT NULL,
    client_id              TEXT NOT NULL,
    -- RFC 8785 canonical JSON of the authorization_details array.
    authorization_details  TEXT NOT NULL,
    -- base64url: 16 random bytes || SHA-256(authorization_details).
    challenge              TEXT NOT NULL,
    credential_id          TEXT NOT NULL,
    public_key             TEXT NOT NULL,      -- JWK (JSON) of the passkey
    authenticator_data     TEXT NOT NULL,      -- base64url, as signed
    client_data_json       TEXT NOT NULL,      -- base64url, as signed
    signature              TEXT NOT NULL,      -- base64url
    amr                    TEXT NOT NULL,      -- JSON array
    confirmed_at           INTEGER NOT NULL
);
CREATE INDEX transaction_confirmations_customer ON transaction_confirmations(customer_id);
