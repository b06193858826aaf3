-- DPoP (RFC 9449) and the FAPI 2.0 Security Profile, per client.
--
-- `require_dpop`: every token request of the client must carry a DPoP proof
-- (RFC 9449 §5, the `dpop_bound_access_tokens` client metadata).
-- `profile`: NULL for an ordinary OpenID Connect client, 'fapi2' for a
-- client held to the FAPI 2.0 Security Profile (`oidc::fapi`).
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN profile TEXT;

-- The `jti` of every DPoP proof accepted, per key (RFC 9449 §11.1), kept
-- until the proof's `iat` window has passed, so a replay is refused on every
-- node. One conditional insert claims it (`store::dpop_jtis`).
CREATE TABLE dpop_jtis (
    jkt         TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (jkt, jti)
);
