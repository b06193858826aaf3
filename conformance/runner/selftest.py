"""The runner's own checks, tried on deliberately broken inputs: every check
must fire (a runner that cannot fail proves nothing). Runs without Kagi, in
well under a second: `python -m runner.selftest`, and first thing in ./run."""

from __future__ import annotations

import base64
import sys
import time

from . import checks, flows, jose, web
from .checks import FAIL, WARN, Callback, Ctx

ISS = "https://op.example"
CID = "client-1"


def _ctx():
    return Ctx("selftest", "-")


def _sevs(ctx: Ctx) -> set[str]:
    return {s for s, _ in ctx.findings}


class T:
    def __init__(self):
        self.failures: list[str] = []
        self.count = 0

    def expect(self, name: str, fn, want: str | None):
        """Runs fn(ctx); `want` is the worst severity expected (None: no finding above INFO)."""
        self.count += 1
        ctx = _ctx()
        try:
            fn(ctx)
        except (checks.Stop, checks.Skip):
            pass
        sevs = _sevs(ctx) - {checks.INFO}
        worst = FAIL if FAIL in sevs else WARN if WARN in sevs else None
        if worst != want:
            self.failures.append(f"{name}: expected {want}, got {worst} {ctx.findings}")


def main() -> int:
    t = T()
    key = jose.new_rsa_key()
    jwks = {"keys": [jose.public_jwk(key, "k1", "RS256")]}
    now = int(time.time())
    at = "access-token-value-" + "x" * 30
    base = {"iss": ISS, "sub": "user-1", "aud": CID, "exp": now + 300, "iat": now, "nonce": "n1", "auth_time": now - 5,
            "at_hash": jose.half_hash("RS256", at), "acr": "urn:kagi:acr:mfa", "amr": ["pwd", "otp", "mfa"], "sid": "s1"}

    def idt(claims=None, header=None, k=key):
        return jose.sign("RS256", k, header or {"kid": "k1", "typ": "JWT"}, claims if claims is not None else base)

    def check(tok, nonce="n1", **kw):
        return lambda ctx: checks.check_id_token(ctx, tok, client_id=CID, issuer=ISS, jwks=jwks, nonce=nonce, access_token=at, **kw)

    t.expect("valid ID token", check(idt()), None)
    t.expect("tampered payload", check(idt()[:-10] + "AAAAAAAAAA"), FAIL)
    t.expect("unknown kid", check(idt(header={"kid": "other"})), FAIL)
    t.expect("signed by another key", check(idt(k=jose.new_rsa_key())), FAIL)
    t.expect("alg none", check(jose.unsigned(base)), FAIL)
    t.expect("HS256", check(jose.sign("HS256", b"secret", {"kid": "k1"}, base)), FAIL)
    t.expect("wrong at_hash", check(idt({**base, "at_hash": "AAAAAAAAAAAAAAAAAAAAAA"})), FAIL)
    t.expect("nonce mismatch", check(idt(), nonce="other"), FAIL)
    t.expect("nonce not sent but present", check(idt(), nonce=None), FAIL)
    t.expect("aud mismatch", check(idt({**base, "aud": "someone"})), FAIL)
    t.expect("aud array with client", check(idt({**base, "aud": ["x", CID]})), None)
    t.expect("iss mismatch", check(idt({**base, "iss": ISS + "/"})), FAIL)
    t.expect("expired", check(idt({**base, "exp": now - 600})), FAIL)
    t.expect("exp in ms", check(idt({**base, "exp": now * 1000})), FAIL)
    t.expect("iat far past", check(idt({**base, "iat": now - 3600})), FAIL)
    t.expect("auth_time future", check(idt({**base, "auth_time": now + 3600})), FAIL)
    t.expect("empty acr", check(idt({**base, "acr": ""})), FAIL)
    t.expect("sub 256 chars", check(idt({**base, "sub": "a" * 256})), FAIL)
    t.expect("sub non-ASCII", check(idt({**base, "sub": "ユーザー"})), FAIL)
    t.expect("email_verified string", check(idt({**base, "email_verified": "true"})), FAIL)
    t.expect("updated_at before 1990", check(idt({**base, "updated_at": 1000})), FAIL)
    t.expect("essential acr missing", check(idt({k: v for k, v in base.items() if k != "acr"}), acr_request=["phr"]), FAIL)
    t.expect("essential acr other", check(idt(), acr_request=["phr"]), FAIL)
    t.expect("wrong alg for client", check(idt(), expected_alg="ES256"), FAIL)
    ec = jose.new_ec_key()
    ec_jwks = {"keys": [jose.public_jwk(ec, "e1", "ES256")]}
    ec_tok = jose.sign("ES256", ec, {"kid": "e1"}, {**base, "at_hash": jose.half_hash("ES256", at)})
    t.expect("valid ES256", lambda ctx: checks.check_id_token(ctx, ec_tok, client_id=CID, issuer=ISS, jwks=ec_jwks, nonce="n1", access_token=at), None)
    t.expect("unrequested claim", lambda ctx: checks.check_no_unrequested_claims(ctx, {**base, "email": "a@b"}, "openid"), WARN)
    t.expect("scope claim allowed", lambda ctx: checks.check_no_unrequested_claims(ctx, {**base, "email": "a@b"}, "openid email"), None)

    # authorization error responses (ERR)
    def err(url, state="st"):
        return lambda ctx: checks.check_err(ctx, Callback(url), state, ISS)
    t.expect("good error", err("https://rp/cb?error=login_required&error_description=log%20in&state=st&iss=https%3A%2F%2Fop.example"), None)
    t.expect("state missing", err("https://rp/cb?error=login_required"), FAIL)
    t.expect("code in error", err("https://rp/cb?error=x&state=st&code=abc"), FAIL)
    t.expect("non-ASCII description", err("https://rp/cb?error=x&state=st&error_description=%E3%82%A8%E3%83%A9%E3%83%BC"), FAIL)
    t.expect("quote in description", err("https://rp/cb?error=x&state=st&error_description=a%22b"), FAIL)
    t.expect("CRLF in description", err("https://rp/cb?error=x&state=st&error_description=a%0D%0Ab"), WARN)
    t.expect("unexpected parameter", err("https://rp/cb?error=x&state=st&foo=bar"), WARN)
    t.expect("wrong iss", err("https://rp/cb?error=x&state=st&iss=https%3A%2F%2Fevil"), FAIL)
    t.expect("state not sent but returned", lambda ctx: checks.check_state(ctx, Callback("https://rp/cb?code=1&state=x"), None), FAIL)

    # token endpoint errors (TERR)
    def resp(status, body, ct="application/json"):
        return web.Response(status, [("Content-Type", ct)], body.encode(), "https://op/token")
    t.expect("TERR ok", lambda ctx: checks.check_terr(ctx, resp(400, '{"error":"invalid_grant"}'), {"invalid_grant"}), None)
    t.expect("TERR 401 grant", lambda ctx: checks.check_terr(ctx, resp(401, '{"error":"invalid_grant"}'), {"invalid_grant"}), FAIL)
    t.expect("TERR 401 client allowed", lambda ctx: checks.check_terr(ctx, resp(401, '{"error":"invalid_client"}'), {"invalid_client"}, True), None)
    t.expect("TERR text/plain", lambda ctx: checks.check_terr(ctx, resp(400, '{"error":"invalid_grant"}', "text/plain"), {"invalid_grant"}), FAIL)
    t.expect("TERR wrong code", lambda ctx: checks.check_terr(ctx, resp(400, '{"error":"invalid_request"}'), {"invalid_grant"}), FAIL)
    t.expect("TERR 200", lambda ctx: checks.check_terr(ctx, resp(200, '{"access_token":"x"}'), {"invalid_grant"}), FAIL)
    t.expect("expires_in string", lambda ctx: checks.check_expires_in(ctx, {"expires_in": "600"}), FAIL)
    t.expect("expires_in missing (oidcc-server)", lambda ctx: checks.check_expires_in(ctx, {}, WARN), WARN)

    # entropy and characters
    t.expect("32 random bytes", lambda ctx: checks.check_entropy(ctx, "code", jose.b64u(b"\x8f\x02" * 0 + __import__("os").urandom(32))), None)
    t.expect("repetitive code", lambda ctx: checks.check_entropy(ctx, "code", "abababababababababababababababab"), FAIL)
    t.expect("short code", lambda ctx: checks.check_entropy(ctx, "code", "abcdefgh"), FAIL)

    # JWKS
    pub = jwks["keys"][0]
    t.expect("good JWKS", lambda ctx: checks.check_jwks(ctx, jwks), None)
    t.expect("private member", lambda ctx: checks.check_jwks(ctx, {"keys": [{**pub, "d": "AAAA"}]}), FAIL)
    t.expect("symmetric key", lambda ctx: checks.check_jwks(ctx, {"keys": [{"kty": "oct", "k": "AAAA", "kid": "x"}]}), FAIL)
    t.expect("duplicate kid", lambda ctx: checks.check_jwks(ctx, {"keys": [pub, {**jose.public_jwk(ec, "k1", "ES256")}]}), FAIL)
    t.expect("missing kid", lambda ctx: checks.check_jwks(ctx, {"keys": [{k: v for k, v in pub.items() if k != "kid"}]}), FAIL)
    t.expect("padded base64", lambda ctx: checks.check_jwks(ctx, {"keys": [{**pub, "e": "AQAB=="}]}), FAIL)

    # discovery metadata
    t.expect("metadata type", lambda ctx: checks.check_metadata_schema(ctx, {"scopes_supported": "openid"}), FAIL)
    t.expect("unknown metadata", lambda ctx: checks.check_metadata_schema(ctx, {"kagi_extension": True}), WARN)
    t.expect("locale casing", lambda ctx: checks.check_locales(ctx, {"ui_locales_supported": ["en-us"]}), WARN)
    t.expect("http endpoint", lambda ctx: checks.check_all_endpoints_https(ctx, {"revocation_endpoint": "http://op/revoke"}), FAIL)

    # browser emulation
    page = web.Response(200, [("Content-Security-Policy", "default-src 'none'; form-action 'self'")], b"", "https://op.example/login/code")
    br = web.Browser(web.Http(ca_file=""), "https://op.example")
    br.form_policy = (web.form_action_sources(page), page.url)
    if br.form_redirect_blocked("https://op.example/authorize/continue") is not None or br.form_redirect_blocked("https://rp.example/cb") is None:
        t.failures.append("form-action 'self' must allow the OP and block the RP after a form submission")
    t.count += 1
    br.cookies, br.samesite = {"s": "1"}, {"s": "lax"}
    if br._sendable("s", "POST", True) or not br._sendable("s", "GET", True) or not br._sendable("s", "POST", False):
        t.failures.append("SameSite=Lax: sent on same-site requests and cross-site GET navigations only")
    t.count += 1
    # RFC 6238 appendix B (SHA-1, T=59 -> 94287082; six digits -> 287082)
    if flows.totp_code(base64.b32encode(b"12345678901234567890").decode(), at=59) != "287082":
        t.failures.append("TOTP does not match RFC 6238 appendix B")
    t.count += 1
    # entropy figure of the checklist: 16 random bytes as base64url fail most of the time
    import os
    rate = sum(checks.shannon_bits(jose.b64u(os.urandom(16))) <= 96 for _ in range(300)) / 300
    if not 0.75 < rate < 0.99:
        t.failures.append(f"16-byte tokens should fail the entropy rule ~89% of the time, got {rate:.0%}")
    t.count += 1

    if t.failures:
        print("runner self-test FAILED:")
        for f in t.failures:
            print("  " + f)
        return 1
    print(f"runner self-test: {t.count} checks of the checks behave")
    return 0


if __name__ == "__main__":
    sys.exit(main())
