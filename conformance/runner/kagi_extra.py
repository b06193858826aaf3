"""Kagi's own modules, for what the plans do not test (docs/product.md, assurance):
essential acr through the claims parameter, amr per login method, acr/amr/
auth_time kept across refresh, a client's require_acr (with a start date), and
transactions sent as RFC 9396 authorization_details (docs/transactions.md)."""

from __future__ import annotations

import json
import time

from . import checks, flows, jose, web
from .checks import Ctx
from .flows import Env, Flow, auth_params, authorize, check_success_callback, configure, exchange, happy, userinfo
from .registry import KAGI, module

PLAN = KAGI
MFA = "urn:kagi:acr:mfa"
PHR = "phr"
PWD_OTP = ["pwd", "otp", "mfa"]


def essential(values):
    return json.dumps({"id_token": {"acr": {"essential": True, "values": values}}})


def access_claims(ctx: Ctx, srv, token: str, label: str) -> dict:
    """Kagi's access tokens are JWTs (RFC 9068) carrying acr, amr and auth_time."""
    try:
        jwt = jose.Jwt(token)
    except (ValueError, UnicodeDecodeError):
        ctx.stop(f"{label}: the access token is not a JWT")
    ctx.check(str(jwt.header.get("typ", "")).lower() in ("at+jwt", "application/at+jwt"), f"{label}: access token typ {jwt.header.get('typ')!r} is not at+jwt")
    checks.verify_jws(ctx, jwt, srv.jwks, f"{label} access token", require_kid=True)
    return jwt.claims


def expect_error(ctx: Ctx, env: Env, o, state: str, error: str, redirect_uri: str):
    if o.kind != "callback":
        ctx.stop(f"expected a redirect with error={error}, the OP showed a page {o.seen} ({o.page.resp.status} {o.page.h1.strip()!r})")
    checks.check_err(ctx, o.callback, state, env.issuer, redirect_uri=redirect_uri)
    ctx.check(o.callback.params.get("error") == error, f"error {o.callback.params.get('error')!r}, expected {error}")


def mfa_assurance(ctx: Ctx, claims: dict, label: str):
    ctx.check(claims.get("acr") == MFA, f"{label}: acr {claims.get('acr')!r}, expected {MFA}")
    ctx.check(claims.get("amr") == PWD_OTP, f"{label}: amr {claims.get('amr')!r}, expected {PWD_OTP}")
    ctx.check(isinstance(claims.get("auth_time"), int), f"{label}: auth_time missing")


@module(PLAN, "kagi-acr-essential-mfa-met", "web client")
def essential_mfa_met(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer(), extra=[("claims", essential([MFA]))], acr_request=[MFA])
    mfa_assurance(ctx, f.id_token.claims, "ID token")
    ctx.note(f"essential acr {MFA} met by password + email code")


@module(PLAN, "kagi-acr-essential-phr-unmet", "public client")
def essential_phr_public(ctx, env, m):
    c = env.clients["kagi-native"]
    srv = configure(ctx, env, c)
    verifier, challenge = flows.pkce_pair()
    params, state, nonce = auth_params(c, extra=[("claims", essential([PHR])), ("code_challenge", challenge), ("code_challenge_method", "S256")])
    o = authorize(ctx, env, env.browser(), Flow(c, params, state, nonce), customer=env.customer(), disc=srv.disc)
    ctx.check(o.login_shown, "the customer was not asked to log in")
    expect_error(ctx, env, o, state, "unmet_authentication_requirements", c.redirect_uri)
    ctx.note("public client, no passkey: unmet_authentication_requirements after login")


@module(PLAN, "kagi-acr-essential-phr-offer-declined", "web client")
def essential_phr_web(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    _offer_then_decline(ctx, env, srv, c, [("claims", essential([PHR]))])


def _offer_then_decline(ctx, env, srv, c, extra):
    params, state, nonce = auth_params(c, extra=extra)
    br = env.browser()
    o = authorize(ctx, env, br, Flow(c, params, state, nonce), customer=env.customer(), disc=srv.disc)
    if o.kind != "page" or o.page.kind() != "passkey_offer":
        what = o.callback.params if o.kind == "callback" else (o.page.resp.status, o.page.h1)
        ctx.stop(f"expected the passkey-registration offer page (200, #passkey-register), got {what}")
    ctx.check(o.page.resp.status == 200, f"passkey offer answered HTTP {o.page.resp.status}")
    f = o.page.form("/authorize/decline")
    r = br.submit(o.page.resp, env.issuer + "/authorize/decline", flows.Page.hidden(f))
    o2 = flows.drive(ctx, env, br, r, customer=None, allow_login=False)
    expect_error(ctx, env, o2, state, "unmet_authentication_requirements", c.redirect_uri)
    ctx.note("passkey offer shown; declined -> unmet_authentication_requirements")


@module(PLAN, "kagi-acr-values-voluntary-phr", "web client")
def voluntary_phr(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer(), extra=[("acr_values", PHR)])
    ctx.check(f.id_token.claims.get("acr") == MFA, f"voluntary acr_values=phr: acr {f.id_token.claims.get('acr')!r}, expected the honest {MFA}")
    ctx.note("voluntary phr not met: the lower acr is returned, no error")


@module(PLAN, "kagi-amr-password-email", "web client")
def amr_email(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer())
    mfa_assurance(ctx, f.id_token.claims, "ID token")
    at = access_claims(ctx, srv, f.access_token, "password + email code")
    mfa_assurance(ctx, at, "access token")
    ctx.check(at.get("auth_time") == f.id_token.claims.get("auth_time"), "access token auth_time differs from the ID token's")
    ctx.note(f"amr {f.id_token.claims.get('amr')} in ID and access token")


@module(PLAN, "kagi-amr-password-totp", "web client")
def amr_totp(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    cust = env.customer(totp=True)
    f = happy(ctx, env, srv, env.browser(), c, cust)
    mfa_assurance(ctx, f.id_token.claims, "ID token")
    at = access_claims(ctx, srv, f.access_token, "password + TOTP")
    mfa_assurance(ctx, at, "access token")
    ctx.note(f"TOTP login (RFC 6238 code): amr {f.id_token.claims.get('amr')}")


@module(PLAN, "kagi-refresh-keeps-acr-amr-auth-time", "web client", waits=2)
def refresh_keeps(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer())
    if not f.refresh_token:
        ctx.stop("a confidential client got no refresh token")
    original = f.id_token.claims
    rt = f.refresh_token
    for round_ in (1, 2):
        time.sleep(1)
        r = flows.token_request(env, c, [("grant_type", "refresh_token"), ("refresh_token", rt)], srv.disc)
        if r.status != 200:
            ctx.stop(f"refresh {round_}: HTTP {r.status} {r.text[:160]!r}")
        body = r.json()
        rt = body.get("refresh_token") or rt
        new = checks.check_id_token(ctx, body.get("id_token"), client_id=c.client_id, issuer=env.issuer, jwks=srv.jwks, nonce=checks.ANY,
                                    access_token=body["access_token"], expected_alg=c.id_token_alg, label=f"refresh {round_} ID token")
        for k in ("acr", "amr", "auth_time", "sid"):
            ctx.check(new.claims.get(k) == original.get(k), f"refresh {round_}: ID token {k} {new.claims.get(k)!r} differs from the original {original.get(k)!r}")
        at = access_claims(ctx, srv, body["access_token"], f"refresh {round_}")
        for k in ("acr", "amr", "auth_time"):
            ctx.check(at.get(k) == original.get(k), f"refresh {round_}: access token {k} {at.get(k)!r} differs from the original {original.get(k)!r}")
    ctx.note("two rotations: acr, amr, auth_time and sid unchanged in ID and access tokens")


@module(PLAN, "kagi-require-acr-phr-in-force", "require_acr phr from the past")
def require_acr_past(ctx, env, m):
    c = env.clients["kagi-req-past"]
    srv = configure(ctx, env, c)
    _offer_then_decline(ctx, env, srv, c, [])


@module(PLAN, "kagi-require-acr-phr-not-yet", "require_acr phr from the future")
def require_acr_future(ctx, env, m):
    c = env.clients["kagi-req-future"]
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer())
    mfa_assurance(ctx, f.id_token.claims, "ID token")
    ctx.note("require_acr not yet in force: normal login, acr mfa")


WITHDRAWAL = json.dumps([{"type": "withdrawal", "amount": {"currency": "JPY", "value": "1234567"},
                          "destination": {"bank": "Mizuho Bank", "account": "****5678"}}])


@module(PLAN, "kagi-authorization-details-refused-before-any-page", "web client")
def details_refused(ctx, env, m):
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    listed = srv.disc.get("authorization_details_types_supported")
    ctx.check(listed == ["withdrawal", "order"], f"authorization_details_types_supported {listed!r}")
    # At PAR: a member the schema does not have is a 400 JSON error (RFC 9396 section 5).
    extra = json.loads(WITHDRAWAL)
    extra[0]["destination"]["iban"] = "DE00"
    params, _, _ = auth_params(c, extra=[("authorization_details", json.dumps(extra))])
    pairs = list(params)
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    flows.client_auth(env, c, pairs, headers, srv.disc["token_endpoint"])
    endpoint = srv.disc.get("pushed_authorization_request_endpoint")
    if not endpoint:
        ctx.stop("discovery lists no pushed_authorization_request_endpoint")
    r = env.http.request("POST", endpoint, headers, web.form(pairs))
    body = r.json() if r.status < 500 else {}
    ctx.check(r.status == 400, f"PAR with an unknown member answered HTTP {r.status}, expected 400")
    ctx.check(body.get("error") == "invalid_authorization_details",
              f"PAR error {body.get('error')!r}, expected invalid_authorization_details")
    # At /authorize: a type no client may send goes back to the client before any page.
    transfer = WITHDRAWAL.replace('"withdrawal"', '"transfer"')
    params, state, nonce = auth_params(c, extra=[("authorization_details", transfer)])
    o = authorize(ctx, env, env.browser(), Flow(c, params, state, nonce), customer=env.customer(), disc=srv.disc)
    ctx.check(not o.login_shown, "the customer was asked to log in before the request was refused")
    expect_error(ctx, env, o, state, "invalid_authorization_details", c.redirect_uri)
    ctx.note("discovery lists both types; PAR 400 and /authorize redirect with invalid_authorization_details")


@module(PLAN, "kagi-authorization-details-passkey-only", "web client")
def details_passkey_only(ctx, env, m):
    # A transaction is confirmed with a passkey and nothing else: a customer
    # without one is offered registration after the login, never a code.
    c = env.clients["kagi-web"]
    srv = configure(ctx, env, c)
    _offer_then_decline(ctx, env, srv, c, [("authorization_details", WITHDRAWAL)])
