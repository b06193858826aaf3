-- Indexes for lookups the hot paths make by a column that had none, found
-- by benches/run: a refresh grant looked up the presented token's children
-- by `parent_hash` (twice per rotation), so every rotation scanned the whole
-- table and grew slower as tokens accumulated. Ceremonies and login attempts
-- are looked up and replaced by their session, and both are deleted with it
-- (ON DELETE CASCADE), which scanned them for every session the purge ended.
CREATE INDEX refresh_tokens_parent ON refresh_tokens(parent_hash);
CREATE INDEX webauthn_ceremonies_sid ON webauthn_ceremonies(sid);
CREATE INDEX login_attempts_sid ON login_attempts(sid);
