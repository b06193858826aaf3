-- Kagi's schema, PostgreSQL flavour. migrations/sqlite/0001_schema.sql is the
-- same schema in SQLite's dialect; the two advance in lock-step and the
-- queries in src/store/ run unchanged on both.
--
-- Conventions, because only plain types cross sqlx's Any driver:
--   * identifiers and UUIDs are TEXT;
--   * times are BIGINT unix seconds (`*_at`), expiries are `expires_at`;
--   * flags are BIGINT 0/1 (BOOLEAN does not survive expressions through Any);
--   * JSON documents are TEXT;
--   * secrets are never stored: only hashes (SHA-256 of 256-bit random
--     handles, argon2id of passwords) or ciphertext (TOTP seeds).

-- A customer of the broker. `id` is the OIDC `sub`.
CREATE TABLE customers (
    id                  TEXT PRIMARY KEY,
    customer_code       TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    -- WebAuthn user handle: 16 random bytes (base64url), no personal data.
    webauthn_user_id    TEXT NOT NULL UNIQUE,
    -- TOTP seed, sealed with the data key (AES-256-GCM); NULL until enrolled.
    totp_secret         TEXT,
    -- A seed shown on the enrolment page, awaiting its first code.
    totp_pending_secret TEXT,
    totp_enrolled_at    BIGINT,
    -- Highest 30 s step accepted, so a code is never accepted twice.
    totp_last_step      BIGINT,
    totp_failures       BIGINT NOT NULL DEFAULT 0,
    -- Consecutive wrong passwords since the last success. Every 5th locks the
    -- account for a growing period; 100 disables it until an operator unlocks.
    failed_logins       BIGINT NOT NULL DEFAULT 0,
    locked_until        BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Up to three registered addresses per customer, enforced by the key and CHECK.
CREATE TABLE customer_emails (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    position    BIGINT NOT NULL CHECK (position BETWEEN 0 AND 2),
    address     TEXT NOT NULL,
    PRIMARY KEY (customer_id, position)
);

-- Registered relying parties.
CREATE TABLE clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    -- argon2id of the generated secret; NULL for public clients.
    secret_hash               TEXT,
    is_public                 BIGINT NOT NULL,
    auth_method               TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL,   -- JSON array of strings
    post_logout_redirect_uris TEXT NOT NULL,   -- JSON array of strings
    backchannel_logout_uri    TEXT,
    require_acr               TEXT,
    require_acr_from          BIGINT,
    require_pkce              BIGINT NOT NULL,
    id_token_alg              TEXT NOT NULL,
    jwks                      TEXT,            -- JSON JWK set for private_key_jwt
    jwks_uri                  TEXT,
    -- First-party clients (the broker's own sites and app) skip the consent page.
    first_party               BIGINT NOT NULL DEFAULT 1,
    -- RFC 9126 §5: this client may only send pushed authorization requests.
    require_par               BIGINT NOT NULL DEFAULT 0,
    created_at                BIGINT NOT NULL
);

-- Scopes a customer granted to a third-party client.
CREATE TABLE consents (
    customer_id  TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    scope        TEXT NOT NULL,     -- space-separated
    granted_at   BIGINT NOT NULL,
    PRIMARY KEY (customer_id, client_id)
);

-- Browser sessions. `sid` is stable for the session's life (it is the OIDC
-- `sid` claim); `handle_hash` is the SHA-256 of the cookie value and changes
-- at every login and step-up, so a planted or stolen pre-login cookie is worthless.
CREATE TABLE sessions (
    sid            TEXT PRIMARY KEY,
    handle_hash    TEXT NOT NULL UNIQUE,
    customer_id    TEXT REFERENCES customers(id) ON DELETE CASCADE,
    csrf_token     TEXT NOT NULL,
    locale         TEXT,
    user_agent     TEXT,
    ip             TEXT,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    -- Absolute end; the idle end is last_seen_at + the configured timeout.
    expires_at     BIGINT NOT NULL,
    ended_at       BIGINT
);
CREATE INDEX sessions_customer ON sessions(customer_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- Every authentication a session went through: the source of acr, amr, auth_time.
CREATE TABLE session_auth_events (
    id           TEXT PRIMARY KEY,
    sid          TEXT NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    method       TEXT NOT NULL,       -- passkey | password_totp | password_email
    acr          TEXT NOT NULL,
    amr          TEXT NOT NULL,       -- JSON array
    purpose      TEXT NOT NULL,       -- login | step_up
    at           BIGINT NOT NULL,
    -- A step-up is spent by the one action it allowed (e.g. adding a passkey).
    consumed_at  BIGINT
);
CREATE INDEX session_auth_events_sid ON session_auth_events(sid);

-- Relying parties a session has signed in to, for back-channel logout.
CREATE TABLE session_clients (
    sid        TEXT NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);

-- Pending authorization requests, kept server-side while the customer logs in
-- (never re-posted through forms). PAR requests live here too (`pushed` = 1).
CREATE TABLE auth_requests (
    id          TEXT PRIMARY KEY,   -- SHA-256 of the handle for PAR, random id otherwise
    client_id   TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    sid         TEXT,
    params      TEXT NOT NULL,      -- JSON of the validated request
    pushed      BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX auth_requests_expires ON auth_requests(expires_at);

-- A login or step-up in progress: the customer is identified (password checked,
-- or session known) and a second factor is awaited.
CREATE TABLE login_attempts (
    id            TEXT PRIMARY KEY,
    sid           TEXT NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    customer_id   TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    purpose       TEXT NOT NULL,     -- login | step_up
    -- Local path to continue at when the customer is through (never an absolute URL).
    return_to     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX login_attempts_expires ON login_attempts(expires_at);

-- Email one-time codes, bound to the attempt that asked for them.
CREATE TABLE email_codes (
    id             TEXT PRIMARY KEY,
    attempt_id     TEXT NOT NULL REFERENCES login_attempts(id) ON DELETE CASCADE,
    code_hash      TEXT NOT NULL,
    email_position BIGINT NOT NULL,
    wrong_tries    BIGINT NOT NULL DEFAULT 0,
    sent_at        BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    -- Set when used, when a resend replaces it, or at the 5th wrong try.
    spent_at       BIGINT
);
CREATE INDEX email_codes_attempt ON email_codes(attempt_id);

-- Authorization codes (RFC 6749 §4.1.2), stored by hash, single use.
CREATE TABLE authorization_codes (
    code_hash       TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    sid             TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    grant_context   TEXT NOT NULL,  -- JSON: scope, nonce, claims, acr, amr, auth_time
    code_challenge  TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

-- A grant and everything issued from it: revoking the family revokes them all.
CREATE TABLE token_families (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    customer_id    TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    sid            TEXT,
    code_hash      TEXT,              -- the code it was issued from
    grant_context  TEXT NOT NULL,     -- JSON, kept so refreshes keep acr/amr/auth_time
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,  -- absolute lifetime of the refresh chain
    revoked_at     BIGINT
);
CREATE INDEX token_families_code ON token_families(code_hash);
CREATE INDEX token_families_sid ON token_families(sid);

-- Refresh tokens by hash; each use marks it used and issues a successor.
CREATE TABLE refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    -- The token this one replaced, for the retry grace of RFC 9700 §4.14.2.
    parent_hash  TEXT,
    created_at   BIGINT NOT NULL,
    used_at      BIGINT,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- Access tokens by `jti`, for revocation and introspection of JWT access tokens.
CREATE TABLE access_tokens (
    jti          TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX access_tokens_family ON access_tokens(family_id);

-- `jti` values of private_key_jwt client assertions seen, to refuse replays.
CREATE TABLE client_assertion_jtis (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- Passkeys. `slot` (0 .. max_passkeys-1) with UNIQUE(customer_id, slot) makes
-- the per-customer cap atomic on both databases: two racing registrations pick
-- the same free slot and the second insert fails, so a fourth never appears.
CREATE TABLE passkeys (
    credential_id   TEXT PRIMARY KEY,   -- base64url; unique across all customers
    customer_id     TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    slot            BIGINT NOT NULL,
    passkey         TEXT NOT NULL,      -- JSON of webauthn-rs's Passkey
    aaguid          TEXT NOT NULL,
    provider        TEXT NOT NULL,
    nickname        TEXT NOT NULL,
    backup_eligible BIGINT NOT NULL,
    backup_state    BIGINT NOT NULL,
    sign_count      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    UNIQUE (customer_id, slot)
);

-- WebAuthn ceremony state (registration or authentication), single use, tied to a session.
CREATE TABLE webauthn_ceremonies (
    id           TEXT PRIMARY KEY,
    sid          TEXT NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    customer_id  TEXT,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Fixed-window counters for throttling, shared by every node (key e.g. `ip:203.0.113.5:password`).
CREATE TABLE rate_limits (
    key           TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    hits          BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Security events, append-only.
CREATE TABLE audit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    outcome        TEXT NOT NULL,     -- success | failure | info
    customer_id    TEXT,
    customer_code  TEXT,
    client_id      TEXT,
    ip             TEXT,
    detail         TEXT NOT NULL      -- JSON object
);
CREATE INDEX audit_events_customer ON audit_events(customer_id, id);

-- Signing key metadata; the private keys are files `<kid>.pem` in the keys folder.
-- A key signs from `activates_at` until a newer key of the same alg activates,
-- and is published from `created_at` until its last tokens have expired.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    activates_at  BIGINT NOT NULL
);
