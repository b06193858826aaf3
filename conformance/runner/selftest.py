"""The runner's own checks, tried on deliberately broken inputs: every check
must fire (a runner that cannot fail proves nothing). Runs without Kagi, in
well under a second: `python -m runner.selftest`, and first thing in ./run."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import time

from . import basic, checks, fapi2, fapi2_plan, flows, jose, kagi_extra, logout, registry, report, web  # noqa: F401  (modules register themselves)
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

    def expect(self, name: str, fn, want: str | None, why: str | None = None):
        """Runs fn(ctx); `want` is the worst severity expected (None: no finding
        above INFO) and `why`, if given, a text one finding of that severity holds,
        so the check fires for the defect the input carries and not another."""
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
        elif why is not None and not any(s == want and why in m for s, m in ctx.findings):
            self.failures.append(f"{name}: expected a {want} about {why!r}, got {ctx.findings}")


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
    # no kid: the key is chosen by kty (and alg/use when the key has them); none usable is a FAIL
    no_kid = {"typ": "JWT"}
    t.expect("no kid, RSA key matches", check(idt(header=no_kid)), None)
    t.expect("empty kid counts as none", check(idt(header={"kid": ""})), None)
    t.expect("no kid, signed by another key", check(idt(header=no_kid, k=jose.new_rsa_key())), FAIL, "does not verify")
    ec_other = jose.new_ec_key()
    t.expect("no kid, kty EC matches no published key", check(jose.sign("ES256", ec_other, no_kid, {**base, "at_hash": jose.half_hash("ES256", at)})), FAIL, "no key of kty EC")
    t.expect("no kid, published key has another alg", lambda ctx: checks.check_id_token(
        ctx, idt(header=no_kid), client_id=CID, issuer=ISS, jwks={"keys": [{**jwks["keys"][0], "alg": "PS256"}]}, nonce="n1", access_token=at), FAIL, "no key of kty RSA")
    t.expect("no kid, published key is for encryption", lambda ctx: checks.check_id_token(
        ctx, idt(header=no_kid), client_id=CID, issuer=ISS, jwks={"keys": [{**jwks["keys"][0], "use": "enc"}]}, nonce="n1", access_token=at), FAIL, "no key of kty RSA")
    t.expect("no kid where one is required", lambda ctx: checks.verify_jws(ctx, jose.Jwt(idt(header=no_kid)), jwks, "access token", require_kid=True), FAIL, "has no kid")
    ec = jose.new_ec_key()
    ec_jwks = {"keys": [jose.public_jwk(ec, "e1", "ES256")]}
    ec_tok = jose.sign("ES256", ec, {"kid": "e1"}, {**base, "at_hash": jose.half_hash("ES256", at)})
    t.expect("valid ES256", lambda ctx: checks.check_id_token(ctx, ec_tok, client_id=CID, issuer=ISS, jwks=ec_jwks, nonce="n1", access_token=at), None)
    t.expect("unrequested claim", lambda ctx: checks.check_no_unrequested_claims(ctx, {**base, "email": "a@b"}, "openid"), WARN)
    t.expect("scope claim allowed", lambda ctx: checks.check_no_unrequested_claims(ctx, {**base, "email": "a@b"}, "openid email"), None)

    # authorization error responses: destination, error, state, iss, then ERR
    RU = "https://rp.example/cb"
    ISS_Q = "iss=https%3A%2F%2Fop.example"

    def err(url, state="st", redirect_uri=RU):
        return lambda ctx: checks.check_err(ctx, Callback(url), state, ISS, redirect_uri=redirect_uri)
    t.expect("good error", err(f"{RU}?error=login_required&error_description=log%20in&state=st&{ISS_Q}"), None)
    t.expect("error to another host", err(f"https://evil.example/cb?error=login_required&state=st&{ISS_Q}"), FAIL, "not to the registered redirect_uri")
    t.expect("error to another path", err(f"{RU}/other?error=login_required&state=st&{ISS_Q}"), FAIL, "not to the registered redirect_uri")
    t.expect("error to another scheme", err(f"http://rp.example/cb?error=login_required&state=st&{ISS_Q}"), FAIL, "not to the registered redirect_uri")
    t.expect("error to another port", err(f"https://rp.example:8443/cb?error=login_required&state=st&{ISS_Q}"), FAIL, "not to the registered redirect_uri")
    t.expect("error without iss", err(f"{RU}?error=login_required&state=st"), FAIL, "has no iss")
    t.expect("error without error", err(f"{RU}?state=st&{ISS_Q}"), FAIL, "has no 'error'")
    t.expect("registered query dropped", err(f"{RU}?error=x&state=st&{ISS_Q}", redirect_uri=RU + "?a=1"), FAIL, "a=1 not returned")
    t.expect("registered query kept", err(f"{RU}?a=1&error=x&state=st&{ISS_Q}", redirect_uri=RU + "?a=1"), WARN)  # a=1 is not an ERR parameter
    t.expect("state missing", err(f"{RU}?error=login_required&{ISS_Q}"), FAIL, "state not echoed")
    t.expect("code in error", err(f"{RU}?error=x&state=st&code=abc&{ISS_Q}"), FAIL)
    t.expect("non-ASCII description", err(f"{RU}?error=x&state=st&error_description=%E3%82%A8%E3%83%A9%E3%83%BC&{ISS_Q}"), FAIL)
    t.expect("quote in description", err(f"{RU}?error=x&state=st&error_description=a%22b&{ISS_Q}"), FAIL)
    t.expect("CRLF in description", err(f"{RU}?error=x&state=st&error_description=a%0D%0Ab&{ISS_Q}"), WARN)
    t.expect("unexpected parameter", err(f"{RU}?error=x&state=st&foo=bar&{ISS_Q}"), WARN)
    t.expect("wrong iss", err(f"{RU}?error=x&state=st&iss=https%3A%2F%2Fevil"), FAIL)
    t.expect("state not sent but returned", lambda ctx: checks.check_state(ctx, Callback("https://rp/cb?code=1&state=x"), None), FAIL)
    t.expect("success without iss", lambda ctx: checks.check_callback_common(ctx, Callback(f"{RU}?code=c&state=st"), RU, ISS), FAIL, "has no iss")
    t.expect("success to another path", lambda ctx: checks.check_redirect_target(ctx, Callback(f"{RU}x?code=c&{ISS_Q}"), RU), FAIL, "not to the registered redirect_uri")

    # response modes: what the client's callback reads (Form Post plan and default)
    form = [("code", "c"), ("state", "st"), ("iss", ISS)]
    posted = Callback(RU, "POST", form, content_type=checks.FORM_CONTENT_TYPE)
    t.expect("form_post received as a form POST", lambda ctx: checks.receive(ctx, posted, form_post=True), None)
    t.expect("form_post answered by a GET redirect", lambda ctx: checks.receive(ctx, Callback(f"{RU}?code=c&state=st&{ISS_Q}"), form_post=True), FAIL, "CheckCallbackHttpMethodIsPost")
    t.expect("form_post posted as text/plain", lambda ctx: checks.receive(ctx, Callback(RU, "POST", form, content_type="text/plain"), form_post=True), FAIL, "CheckCallbackContentTypeIsFormUrlEncoded")
    t.expect("form_post with code in the query", lambda ctx: checks.receive(ctx, Callback(RU + "?code=c", "POST", form, content_type=checks.FORM_CONTENT_TYPE), form_post=True), FAIL, "RejectAuthCodeInUrlQuery")
    t.expect("form_post with error in the query", lambda ctx: checks.receive(ctx, Callback(RU + "?error=x", "POST", form, content_type=checks.FORM_CONTENT_TYPE), form_post=True), FAIL, "RejectErrorInUrlQuery")
    t.expect("default mode answered by a form POST", lambda ctx: checks.receive(ctx, posted, form_post=False), FAIL, "was not form_post")
    if checks.receive(_ctx(), Callback(f"{RU}?code=c&state=st"), form_post=True).params:
        t.failures.append("form_post: a GET redirect must leave the client nothing to read (the suite reads the body)")
    t.count += 1

    # the auto-posting page of form_post, as a browser submits it
    def fp_page(form_attrs='method="post"', csp=f"default-src 'none'; form-action {RU}", action=RU):
        fields = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in form)
        body = f'<html><body><form {form_attrs} action="{action}" data-autosubmit="true">{fields}<button type="submit">Continue</button></form></body></html>'
        headers = [("Content-Type", "text/html; charset=utf-8")] + ([("Content-Security-Policy", csp)] if csp else [])
        return flows.Page(web.Response(200, headers, body.encode(), "https://op.example/authorize"))

    def submitted(page, form_post=True):
        def run(ctx):
            checks.receive(ctx, flows.auto_submit(ctx, page), form_post=form_post)
        return run
    t.expect("form_post page submits as it should", submitted(fp_page()), None)
    t.expect("form_post page whose CSP blocks its action", submitted(fp_page(csp=f"form-action {RU}/other")), FAIL, "does not allow its own action")
    t.expect("form_post page with a GET form", submitted(fp_page(form_attrs='method="get"')), FAIL, "CheckCallbackHttpMethodIsPost")
    t.expect("form_post page with enctype text/plain", submitted(fp_page(form_attrs='method="post" enctype="text/plain"')), FAIL, "CheckCallbackContentTypeIsFormUrlEncoded")

    # the error page the screenshot modules expect (and the logged-out page)
    def html(status, h1, content, head=""):
        body = f"<!doctype html><html><head>{head}</head><body><main><h1>{h1}</h1>{content}</main></body></html>"
        return flows.Page(web.Response(status, [("Content-Type", "text/html; charset=utf-8")], body.encode(), "https://op.example/authorize"))
    msg = '<p class="message">We could not confirm the registration of the service that asked you to log in.</p>'
    login_form = '<form method="post" action="/login"><input type="hidden" name="csrf" value="x"><input name="customer_code"><input type="password" name="password"></form>'
    consent_form = '<form method="post" action="/authorize/consent"><input type="hidden" name="request" value="r"><button name="decision" value="accept">OK</button></form>'
    offer = '<form method="post" action="/authorize/decline"><input type="hidden" name="request" value="r"></form><a id="passkey-register" href="/account/passkeys/confirm">Add</a>'
    confirm = '<form method="post" action="/session/end/confirm"><button id="logout-confirm">Log out</button></form>'
    good_error = html(400, "This login request cannot be accepted", msg)

    def page_check(fn, page):
        return lambda ctx: fn(ctx, page, "expected page")
    t.expect("error page", page_check(flows.error_page, good_error), None)
    t.expect("login page as the error page", page_check(flows.error_page, html(200, "Log in", msg + login_form)), FAIL, "got the login page")
    t.expect("login page with 400 as the error page", page_check(flows.error_page, html(400, "Log in", msg + login_form)), FAIL, "got the login page")
    t.expect("consent page as the error page", page_check(flows.error_page, html(400, "Allow access", msg + consent_form)), FAIL, "got the consent page")
    t.expect("passkey offer as the error page", page_check(flows.error_page, html(400, "Add a passkey", msg + offer)), FAIL, "got the passkey-registration offer")
    t.expect("logout confirmation as the error page", page_check(flows.error_page, html(400, "Log out", msg + confirm)), FAIL, "got the logout confirmation")
    t.expect("form_post page as the error page", page_check(flows.error_page, fp_page()), FAIL, "auto-posting form")
    t.expect("error page with 200", page_check(flows.error_page, html(200, "Error", msg)), FAIL, "answers 4xx")
    t.expect("error page with 500", page_check(flows.error_page, html(500, "Error", msg)), FAIL, "answers 4xx")
    t.expect("error page without a message element", page_check(flows.error_page, html(400, "Error", "<p>Please start again from the beginning.</p>")), FAIL, "no message element")
    t.expect("error page with an empty message", page_check(flows.error_page, html(400, "Error", '<p class="message"> </p><p>Other text here for length</p>')), FAIL, "no message element")
    t.expect("error page without heading", page_check(flows.error_page, html(400, "", msg)), FAIL, "no heading")
    t.expect("error page that refreshes", page_check(flows.error_page, html(400, "Error", msg, '<meta http-equiv="refresh" content="0;url=https://rp.example/cb">')), FAIL, "refreshes")
    t.expect("JSON as the error page", page_check(flows.error_page, flows.Page(web.Response(400, [("Content-Type", "application/json")], b'{"error":"invalid_request"}', "https://op.example/authorize"))), FAIL, "not HTML")
    t.expect("logged-out page", page_check(flows.logged_out_page, html(200, "You are logged out", '<p class="message">You have been logged out.</p>')), None)
    t.expect("error page as the logged-out page", page_check(flows.logged_out_page, good_error), FAIL, "answers 2xx")
    t.expect("login page as the logged-out page", page_check(flows.logged_out_page, html(200, "Log in", msg + login_form)), FAIL, "got the login page")

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

    # FAPI 2.0: the DPoP-Nonce header, the token response, the thumbprint
    def response(status=200, headers=(), body=b"{}"):
        return web.Response(status, list(headers), body, ISS + "/token")
    t.expect("DPoP-Nonce good", lambda c: fapi2.take_nonce(c, response(headers=[("DPoP-Nonce", "abc-_1")]), None), None)
    t.expect("DPoP-Nonce empty", lambda c: fapi2.take_nonce(c, response(headers=[("DPoP-Nonce", "")]), None), FAIL, "NQCHAR")
    t.expect("DPoP-Nonce with a quote", lambda c: fapi2.take_nonce(c, response(headers=[("DPoP-Nonce", 'a"b')]), None), FAIL, "NQCHAR")
    t.expect("DPoP-Nonce twice", lambda c: fapi2.take_nonce(c, response(headers=[("DPoP-Nonce", "a"), ("DPoP-Nonce", "b")]), None),
             FAIL, "more than once")
    good_tok = {"access_token": "x" * 43 + secrets.token_urlsafe(32), "token_type": "DPoP", "expires_in": 600}
    tok = lambda body, cc="no-store": response(headers=[("Content-Type", "application/json"), ("Cache-Control", cc)],  # noqa: E731
                                                body=json.dumps(body).encode())
    t.expect("FAPI token response good", lambda c: fapi2.token_body(c, tok(good_tok)), None)
    t.expect("FAPI token response Bearer", lambda c: fapi2.token_body(c, tok(dict(good_tok, token_type="Bearer"))), FAIL, "DPoP")
    t.expect("FAPI token response cacheable", lambda c: fapi2.token_body(c, tok(good_tok, cc="max-age=60")), FAIL, "no-store")
    dk = fapi2.DpopKey()
    if fapi2.DpopKey().thumbprint() == dk.thumbprint() or len(dk.thumbprint()) != 43:
        t.failures.append("DPoP thumbprints must be 43 base64url characters and differ per key")
    proof = jose.Jwt(dk.proof("GET", ISS + "/userinfo", token="at"))
    if proof.header.get("typ") != "dpop+jwt" or "d" in proof.header.get("jwk", {}) or proof.claims.get("ath") != jose.b64u(hashlib.sha256(b"at").digest()):
        t.failures.append(f"a runner DPoP proof must carry typ dpop+jwt, a public jwk and ath: {proof.header} {proof.claims}")
    t.count += 2

    # the report: verdicts kept apart per plan; kagi-* and other non-certification groups apart
    def mod(plan, name="m"):
        return registry.Module(plan, name, "-", lambda *a: None)
    mods = [mod(registry.BASIC), mod(registry.BASIC), mod(registry.BASIC), mod(registry.FORM_POST), mod(registry.KAGI, "kagi-x"), mod(registry.COMPREHENSIVE),
            mod(registry.FAPI2)]
    verdicts = ["PASS", "WARNING", "SKIPPED", "PASS", "FAIL", "PASS", "PASS"]
    by = report.per_plan(mods, verdicts)
    lines = report.summary_lines(mods, verdicts)
    if by[registry.BASIC] != {"PASS": 1, "WARNING": 1, "SKIPPED": 1} or by[registry.KAGI] != {"FAIL": 1}:
        t.failures.append(f"report: per-plan counts must keep PASS, WARNING and SKIPPED apart and kagi alone: {dict(by)}")
    if lines[-1] != "5 passed, 1 failed":
        t.failures.append(f"report: final line must count PASS+WARNING as passed, SKIPPED as neither, and a kagi FAIL as failed: {lines[-1]!r}")
    cert_at = next(i for i, line in enumerate(lines) if line.startswith("certification plans"))
    other_at = next(i for i, line in enumerate(lines) if line.startswith("not certification"))
    kagi_at = next(i for i, line in enumerate(lines) if line.strip().startswith(registry.KAGI + " "))
    if not cert_at < other_at < kagi_at:
        t.failures.append("report: the kagi group must be listed under 'not certification'")
    fapi_at = next((i for i, line in enumerate(lines) if line.startswith("FAPI 2.0")), -1)
    fapi_row = next((i for i, line in enumerate(lines) if line.strip().startswith(registry.FAPI2 + " ")), -1)
    if not cert_at < fapi_at < fapi_row < other_at:
        t.failures.append("report: the FAPI 2.0 plan must have its own group and line, apart from the OpenID Connect plans")
    oidc_total = next(line for line in lines[cert_at:fapi_at] if "(together)" in line)
    if oidc_total.split()[1:] != ["2", "1", "1", "0"]:
        t.failures.append(f"report: the FAPI 2.0 plan must not be counted with the OpenID Connect plans: {oidc_total!r}")
    t.count += 5
    # the plans: the Form Post plan runs the Basic plan's module list, every module in a known plan
    names = {p: sorted(m.name for m in registry.MODULES if m.plan == p) for p in (registry.BASIC, registry.FORM_POST)}
    if names[registry.BASIC] != names[registry.FORM_POST] or len(names[registry.BASIC]) != 35:
        t.failures.append(f"the Basic and Form Post plans must both run the same 35 modules: {len(names[registry.BASIC])} and {len(names[registry.FORM_POST])}")
    if any(m.response_mode != "form_post" for m in registry.MODULES if m.plan == registry.FORM_POST):
        t.failures.append("every Form Post module must use response_mode=form_post")
    if any(m.name.startswith("kagi-") and m.plan != registry.KAGI for m in registry.MODULES):
        t.failures.append("kagi-* modules belong to the kagi group")
    fapi = [m for m in registry.MODULES if m.plan == registry.FAPI2]
    if len(fapi) != 56 or len({m.name for m in fapi}) != 56:
        t.failures.append(f"the FAPI 2.0 plan (private_key_jwt + DPoP + openid_connect, plain_fapi) runs 56 distinct modules: {len(fapi)}")
    if any(not m.name.startswith("fapi2-security-profile-final-") for m in fapi):
        t.failures.append("FAPI 2.0 modules carry the suite's fapi2-security-profile-final- names")
    t.count += 5

    if t.failures:
        print("runner self-test FAILED:")
        for f in t.failures:
            print("  " + f)
        return 1
    print(f"runner self-test: {t.count} checks of the checks behave")
    return 0


if __name__ == "__main__":
    sys.exit(main())
