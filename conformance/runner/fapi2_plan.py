"""The modules of fapi2-security-profile-final-test-plan (variant
private_key_jwt + DPoP + openid_connect, plain_fapi), by the suite's module
names; the machinery they share (DPoP proofs, PAR, the base flow, the FAPI
2.0 checks) is `runner/fapi2.py`."""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse

from . import checks, jose, web
from .checks import WARN
from .fapi2 import (DpopKey, FAPI_ALGS, JWT_BEARER, Run, assertion, base_flow, call_resource, configure, expect_par_error, expect_refused_front, fapi, front, par_pairs, post, push, redeem, registered_query, resource, start, success_callback, token_body, token_pairs)
from .flows import Outcome, drive, error_page, pkce_pair, rand_alnum, suite_nonce, suite_state


# ---- 1. discovery -----------------------------------------------------------------------------

@fapi("discovery-end-point-verification")
def discovery(ctx, env, m):
    r, d = env.get_json(ctx, env.discovery_url, "discovery document")
    ctx.check(r.status == 200, f"discovery answered HTTP {r.status}")
    checks.check_metadata_schema(ctx, d)
    ctx.check("code" in (d.get("response_types_supported") or []), "response_types_supported lacks code")
    ctx.check(d.get("authorization_response_iss_parameter_supported") is True, "authorization_response_iss_parameter_supported is not true")
    ctx.check(checks.is_url(d.get("pushed_authorization_request_endpoint"), https=True), "no https pushed_authorization_request_endpoint")
    ctx.check(d.get("issuer") == env.issuer and checks.is_url(d.get("issuer"), https=True), "issuer is not the https issuer")
    ctx.check(bool(FAPI_ALGS & set(d.get("dpop_signing_alg_values_supported") or [])), "dpop_signing_alg_values_supported lacks PS256/ES256/EdDSA")
    ctx.check(bool(FAPI_ALGS & set(d.get("id_token_signing_alg_values_supported") or [])), "id_token_signing_alg_values_supported lacks a FAPI alg")
    ctx.check("private_key_jwt" in (d.get("token_endpoint_auth_methods_supported") or []), "token_endpoint_auth_methods_supported lacks private_key_jwt")
    ctx.check(bool(FAPI_ALGS & set(d.get("token_endpoint_auth_signing_alg_values_supported") or [])), "token_endpoint_auth_signing_alg_values_supported lacks a FAPI alg")
    if "userinfo_signing_alg_values_supported" in d:
        ctx.check(bool(FAPI_ALGS & set(d["userinfo_signing_alg_values_supported"])), "userinfo_signing_alg_values_supported lacks a FAPI alg")
    for k in ("token_endpoint", "jwks_uri"):
        ctx.check(checks.is_url(d.get(k), https=True), f"{k} is not https")
    ctx.note("FAPI 2.0 discovery: PAR, iss, DPoP and FAPI algorithms advertised")


# ---- 2–9: flows ----------------------------------------------------------------------------

@fapi("happy-flow")
def happy_flow(ctx, env, m):
    f = configure(ctx, env)
    one = base_flow(ctx, env, f, "fapi2")
    # Client 2: long state and nonce, the dummy query, and a PAR carrying only dpop_jkt.
    dpop2 = DpopKey()
    two = start(ctx, env, f, "fapi2-2", dpop=dpop2, state_len=128, nonce_len=43, extra=[("dpop_jkt", dpop2.thumbprint())])
    push(ctx, env, f, two)
    front(ctx, env, f, two, customer=env.customer())
    success_callback(ctx, env, two)
    redeem(ctx, env, f, two)
    call_resource(ctx, env, f, two)
    for accept in ("application/json; charset=UTF-8", "application/json, application/*+json, */*"):
        call_resource(ctx, env, f, two, headers={"Accept": accept, "x-fapi-interaction-id": "c770aef3-6784-41f7-8e0e-ff5f97bddb3a",
                                                   "x-fapi-customer-ip-address": "2001:db8::1", "x-fapi-auth-date": "Tue, 11 Sep 2012 19:43:31 GMT"})
    # The token in the URL query is refused.
    at = two.token["access_token"]
    r = env.http.request("GET", web.with_query(f.disc["userinfo_endpoint"], [("access_token", at)]), {"Accept": "application/json"})
    ctx.check(r.status in (400, 401, 414), f"an access token in the query answered HTTP {r.status}")
    # Client 1's DPoP key with client 2's token.
    r = resource(env, f.disc, "DPoP", at, one.dpop)
    ctx.check(400 <= r.status < 500, f"client 2's token with client 1's DPoP key answered HTTP {r.status}")
    ctx.note("two clients: PAR, login, consent, DPoP-bound tokens, userinfo; dpop_jkt-only PAR; cross-key use refused")


@fapi("user-rejects-authentication")
def user_rejects(ctx, env, m):
    f = configure(ctx, env)
    for which in ("fapi2", "fapi2-2"):
        run = start(ctx, env, f, which, state_len=128)
        push(ctx, env, f, run)
        o = front(ctx, env, f, run, customer=env.customer(), consent="decline")
        if o.kind != "callback":
            ctx.stop(f"{which}: cancelling did not return to the client ({o.page.resp.status} {o.page.h1.strip()!r})")
        checks.check_err(ctx, o.callback, run.state, env.issuer, redirect_uri=run.client.redirect_uri,
                         extra_expected=registered_query(run.client))
        ctx.check(o.callback.params.get("error") == "access_denied", f"{which}: error {o.callback.params.get('error')!r}, expected access_denied")
        for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(run.client.redirect_uri).query):
            ctx.check(o.callback.params.get(k) == v, f"{which}: the registered query parameter {k} was dropped")
    ctx.note("the user cancels at the consent page: access_denied with state")


@fapi("ensure-authorization-request-without-state-success")
def without_state(ctx, env, m):
    f = configure(ctx, env)
    run = base_flow(ctx, env, f, state_len=None)
    ctx.check("state" not in run.outcome.callback.params, "state returned although none was sent")
    ctx.note("no state sent, none returned")


@fapi("ensure-authorization-request-without-nonce-success")
def without_nonce(ctx, env, m):
    f = configure(ctx, env)
    run = base_flow(ctx, env, f, nonce_len=None)
    ctx.check("nonce" not in jose.Jwt(run.token["id_token"]).claims, "the ID token has a nonce although none was sent")
    ctx.note("no nonce sent, none in the ID token")


@fapi("ensure-authorization-request-with-64-char-nonce-success")
def nonce_64(ctx, env, m):
    f = configure(ctx, env)
    base_flow(ctx, env, f, nonce_len=64)
    ctx.note("64-character nonce returned intact")


@fapi("ensure-other-scope-order-succeeds")
def scope_order(ctx, env, m):
    f = configure(ctx, env)
    base_flow(ctx, env, f, scope="email openid")
    ctx.note("scope 'email openid' accepted")


@fapi("test-claims-parameter-identity-claims")
def claims_parameter(ctx, env, m):
    f = configure(ctx, env)
    supported = [c for c in (f.disc.get("claims_supported") or []) if c in ("name", "email", "email_verified")]
    if f.disc.get("claims_parameter_supported") is not True or not supported:
        ctx.skip("claims_parameter_supported is not true or no standard identity claims are supported")
    wanted = {c: None for c in supported}
    wanted["x-unknown-" + rand_alnum(6)] = None
    claims = json.dumps({"id_token": wanted, "userinfo": wanted})
    run = base_flow(ctx, env, f, extra=[("claims", claims)], resource_call=False)
    r = call_resource(ctx, env, f, run)
    info = r.json() if r.status == 200 else {}
    checks.check_userinfo_claims(ctx, info, jose.Jwt(run.token["id_token"]).claims.get("sub"))
    idc = jose.Jwt(run.token["id_token"]).claims
    for c in supported:
        ctx.check(c in info or c in idc, f"claim {c} requested but in neither the ID token nor userinfo", WARN)
    ctx.note(f"claims {supported} requested through the claims parameter")


@fapi("access-token-type-header-case-sensitivity")
def token_type_case(ctx, env, m):
    f = configure(ctx, env)
    run = base_flow(ctx, env, f, resource_call=False)
    inverted = run.token["token_type"].swapcase()
    r = resource(env, f.disc, inverted, run.token["access_token"], run.dpop, ctx=ctx)
    ctx.check(r.status in (200, 201), f"the token type {inverted!r} (case inverted) answered HTTP {r.status}")
    ctx.note(f"scheme {inverted!r} accepted")


# ---- 10–17: DPoP proofs and bindings --------------------------------------------------------

class ShiftedKey(DpopKey):
    """A DPoP key whose proofs carry extra claims (nbf/exp) or a shifted iat."""

    def __init__(self, iat_offset=0, extra=None):
        super().__init__()
        self.iat_offset, self.extra = iat_offset, extra or {}

    def proof(self, method, url, **kw):
        kw.setdefault("iat_offset", self.iat_offset)
        kw.setdefault("claims", self.extra)
        return super().proof(method, url, **kw)


@fapi("check-dpop-proof-nbf-exp")
def proof_nbf_exp(ctx, env, m):
    f = configure(ctx, env)
    now = int(time.time())
    base_flow(ctx, env, f, dpop=ShiftedKey(extra={"nbf": now, "exp": now + 300}))
    ctx.note("proofs with nbf and exp accepted")


@fapi("ensure-dpopproof-with-iat-10seconds-before-succeeds")
def iat_before(ctx, env, m):
    f = configure(ctx, env)
    base_flow(ctx, env, f, dpop=ShiftedKey(iat_offset=-10), par_proof=True)
    ctx.note("PAR, token and resource proofs with iat 10 s ago accepted")


@fapi("ensure-dpopproof-with-iat-10seconds-after-succeeds")
def iat_after(ctx, env, m):
    f = configure(ctx, env)
    base_flow(ctx, env, f, dpop=ShiftedKey(iat_offset=10), par_proof=True)
    ctx.note("PAR, token and resource proofs with iat 10 s ahead accepted")


@fapi("ensure-mismatched-dpop-jkt-fails")
def mismatched_jkt_at_par(ctx, env, m):
    f = configure(ctx, env)
    other = DpopKey()
    run = start(ctx, env, f, extra=[("dpop_jkt", other.thumbprint())])
    r = push(ctx, env, f, run, par_proof=True, expect_ok=False)
    expect_par_error(ctx, r, {"invalid_request", "invalid_dpop_proof"})
    ctx.note(f"PAR proof of one key with dpop_jkt of another: HTTP {r.status} {r.json().get('error') if r.status == 400 else ''}")


def _token_with(ctx, env, f, run, key: DpopKey):
    front(ctx, env, f, run, customer=env.customer())
    success_callback(ctx, env, run)
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=run.client, dpop=key, ctx=ctx)
    checks.check_terr(ctx, r, {"invalid_request", "invalid_grant", "invalid_dpop_proof"})
    ctx.note(f"token request with another key refused: {r.status} {r.json().get('error') if r.media_type == 'application/json' else ''}")


@fapi("ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt")
def token_other_key_after_par_proof(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f)
    push(ctx, env, f, run, par_proof=True)
    _token_with(ctx, env, f, run, DpopKey())


@fapi("ensure-token-endpoint-fails-with-mismatched-dpop-jkt")
def token_other_key_after_jkt(ctx, env, m):
    f = configure(ctx, env)
    x = DpopKey()
    run = start(ctx, env, f, extra=[("dpop_jkt", x.thumbprint())])
    push(ctx, env, f, run)
    _token_with(ctx, env, f, run, DpopKey())


@fapi("ensure-dpopproof-at-par-endpoint-binding-success")
def par_binding(ctx, env, m):
    f = configure(ctx, env)
    base_flow(ctx, env, f, par_proof=True)
    ctx.note("DPoP proof at PAR, same key at the token endpoint")


@fapi("ensure-dpop-auth-code-binding-success")
def code_binding(ctx, env, m):
    f = configure(ctx, env)
    key = DpopKey()
    base_flow(ctx, env, f, dpop=key, par_proof=True, extra=[("dpop_jkt", key.thumbprint())])
    ctx.note("PAR with a proof and the matching dpop_jkt")


# ---- 18–30: the request ----------------------------------------------------------------------

def _outer(ctx, env, name, outer_value, check):
    f = configure(ctx, env)
    run = start(ctx, env, f)
    push(ctx, env, f, run)
    o = front(ctx, env, f, run, customer=env.customer(), extra=[(name, outer_value)])
    if o.kind == "page":
        error_page(ctx, o.page, f"error page for a different outer {name}")
        ctx.note(f"different {name} on the front channel: error page")
        return
    if "error" in o.callback.params:
        ctx.check(o.callback.params["error"] == "invalid_request", f"error {o.callback.params['error']!r}, expected invalid_request")
        return
    success_callback(ctx, env, run)
    if name == "nonce":
        redeem(ctx, env, f, run)
    check(run)
    ctx.note(f"the pushed {name} was used, the front-channel one ignored")


@fapi("ensure-different-nonce-inside-and-outside-request-object")
def different_nonce(ctx, env, m):
    _outer(ctx, env, "nonce", suite_nonce(10), lambda run: ctx.check(jose.Jwt(run.token["id_token"]).claims.get("nonce") == run.nonce,
                                                                       "the ID token carries the outer nonce, not the pushed one"))


@fapi("ensure-different-state-inside-and-outside-request-object")
def different_state(ctx, env, m):
    _outer(ctx, env, "state", suite_state(10), lambda run: None)


def _long(ctx, env, **kw):
    f = configure(ctx, env)
    run = start(ctx, env, f, **kw)
    r = push(ctx, env, f, run, expect_ok=False)
    if r.status != 201:
        checks.check_terr(ctx, r, {"invalid_request"}, where="PAR")
        ctx.warn(f"PAR refused the long value ({r.status})")
        return
    push(ctx, env, f, run)
    front(ctx, env, f, run, customer=env.customer())
    success_callback(ctx, env, run)
    redeem(ctx, env, f, run)
    call_resource(ctx, env, f, run)


@fapi("ensure-authorization-request-with-long-nonce")
def long_nonce(ctx, env, m):
    _long(ctx, env, nonce_len=384)
    ctx.note("384-character nonce returned intact")


@fapi("ensure-authorization-request-with-long-state")
def long_state(ctx, env, m):
    _long(ctx, env, state_len=1000)
    ctx.note("1000-character state returned intact")


@fapi("state-only-outside-request-object-not-used")
def state_only_outside(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f, state_len=None)
    push(ctx, env, f, run)
    o = front(ctx, env, f, run, customer=env.customer(), extra=[("state", suite_state(10))])
    if o.kind == "page":
        error_page(ctx, o.page, "error page for a state only outside PAR")
        return
    if "error" in o.callback.params:
        ctx.check(o.callback.params["error"] in {"invalid_request", "invalid_request_object", "invalid_request_uri", "access_denied"},
                  f"error {o.callback.params['error']!r}")
        return
    ctx.check("state" not in o.callback.params, "the front-channel state was echoed")
    ctx.note("state only outside PAR: not returned")


@fapi("ensure-request-object-without-redirect-uri-fails")
def par_without_redirect(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f, drop=("redirect_uri",))
    r = push(ctx, env, f, run, expect_ok=False)
    if r.status != 201:
        checks.check_terr(ctx, r, {"invalid_request", "invalid_request_object"}, where="PAR")
        ctx.note(f"PAR without redirect_uri: HTTP {r.status}")
        return
    push(ctx, env, f, run)
    front(ctx, env, f, run, customer=env.customer())
    expect_refused_front(ctx, env, run, {"invalid_request", "invalid_request_object"}, "redirect_uri only on the front channel")


@fapi("plain-fapi-tolerate-unregistered-redirect-uri")
def unregistered_redirect(ctx, env, m):
    f = configure(ctx, env)
    c = env.clients["fapi2"]
    run = start(ctx, env, f, extra=[("redirect_uri", c.redirect_uri + "/unregistered")])
    r = push(ctx, env, f, run, expect_ok=False)
    if r.status != 201:
        checks.check_terr(ctx, r, {"invalid_request", "invalid_request_object"}, where="PAR")
        ctx.note(f"unregistered redirect_uri refused at PAR (HTTP {r.status})")
        return
    ctx.fail("PAR accepted an unregistered redirect_uri; the flow would need the pushed URI honoured")


@fapi("ensure-unsigned-authorization-request-without-using-par-fails")
def without_par(ctx, env, m):
    f = configure(ctx, env)
    c = env.clients["fapi2"]
    params, state, nonce, verifier = par_pairs(c)
    br = env.browser()
    resp = br.get(web.with_query(f.disc["authorization_endpoint"], params), cross_site=True)
    o = drive(ctx, env, br, resp, customer=env.customer())
    run = Run(c, params, state, nonce, verifier, DpopKey(), outcome=o)
    if o.kind == "callback":
        o.callback = checks.receive(ctx, o.callback, form_post=False)
    expect_refused_front(ctx, env, run, {"invalid_request"}, "authorization request without PAR")
    ctx.note("a plain authorization request is refused")


@fapi("ensure-redirect-uri-in-authorization-request")
def no_redirect_anywhere(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f, drop=("redirect_uri",))
    r = push(ctx, env, f, run, expect_ok=False)
    if r.status != 201:
        checks.check_terr(ctx, r, {"invalid_request", "invalid_request_object"}, where="PAR")
        ctx.note(f"PAR without redirect_uri refused (HTTP {r.status})")
        return
    push(ctx, env, f, run)
    o = front(ctx, env, f, run, customer=env.customer(), only_minimal=True)
    if o.kind == "page":
        error_page(ctx, o.page, "error page for no redirect_uri")


def _response_type(ctx, env, value):
    f = configure(ctx, env)
    run = start(ctx, env, f, extra=[("response_type", value)])
    r = push(ctx, env, f, run, expect_ok=False)
    if r.status != 201:
        ctx.check(400 <= r.status < 500, f"PAR answered HTTP {r.status}")
        err = r.json().get("error") if r.media_type == "application/json" else None
        ctx.check(err in {"unsupported_response_type", "invalid_request", "unauthorized_client"}, f"PAR error {err!r}", WARN)
        ctx.note(f"response_type={value} refused at PAR ({err})")
        return
    push(ctx, env, f, run)
    front(ctx, env, f, run, customer=env.customer())
    expect_refused_front(ctx, env, run, {"unsupported_response_type", "invalid_request"}, f"response_type={value}")


@fapi("ensure-response-type-code-idtoken-fails")
def code_id_token(ctx, env, m):
    _response_type(ctx, env, "code id_token")


@fapi("ensure-response-type-token-fails")
def rt_token(ctx, env, m):
    _response_type(ctx, env, "token")


# ---- 31–41: the token endpoint ---------------------------------------------------------------

def _code(ctx, env, f, which="fapi2", **kw) -> Run:
    run = start(ctx, env, f, which, **kw)
    push(ctx, env, f, run)
    front(ctx, env, f, run, customer=env.customer())
    success_callback(ctx, env, run)
    return run


@fapi("ensure-client-id-in-token-endpoint")
def client_id_in_token(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    one, two = env.clients["fapi2"], env.clients["fapi2-2"]
    # An assertion naming client 2, signed with client 1's key.
    now = int(time.time())
    a = jose.sign(one.key_alg, one.private_key, {"kid": one.kid, "typ": "JWT"},
                  {"iss": two.client_id, "sub": two.client_id, "aud": env.issuer, "jti": rand_alnum(20), "iat": now, "nbf": now, "exp": now + 60})
    pairs = token_pairs(run) + [("client_id", two.client_id), ("client_assertion_type", JWT_BEARER), ("client_assertion", a)]
    r = post(env, f.disc["token_endpoint"], pairs, dpop=run.dpop, auth=None)
    checks.check_terr(ctx, r, {"invalid_client", "invalid_grant"}, allow_401_for_invalid_client=True)
    ctx.note(f"client 1's code with client 2's id: HTTP {r.status}")


@fapi("ensure-holder-of-key-required")
def holder_of_key(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=run.client)
    ctx.check(400 <= r.status < 500, f"token request without a DPoP proof answered HTTP {r.status}")
    ctx.check(r.status in (400, 401) and r.media_type == "application/json", "the refusal is not 400/401 JSON", WARN)
    err = r.json().get("error") if r.media_type == "application/json" else None
    ctx.check(err in {"invalid_request", "invalid_grant", "invalid_dpop_proof"}, f"error {err!r}")
    ctx.note(f"no DPoP proof: HTTP {r.status} {err}")


@fapi("ensure-authorization-code-is-bound-to-client")
def code_bound_to_client(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    two = env.clients["fapi2-2"]
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=two, dpop=run.dpop)
    ctx.check(r.status == 400, f"client 2 redeeming client 1's code answered HTTP {r.status}, expected exactly 400")
    checks.check_terr(ctx, r, {"invalid_grant"})
    ctx.note("another client's code: 400 invalid_grant")


@fapi("attempt-reuse-authorization-code-after-one-second", waits=1)
def code_reuse(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    redeem(ctx, env, f, run)
    time.sleep(1)
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=run.client, dpop=run.dpop)
    if r.status == 200:
        ctx.stop("the code was accepted a second time")
    checks.check_terr(ctx, r, {"invalid_grant"})
    r = resource(env, f.disc, run.token["token_type"], run.token["access_token"], run.dpop)
    ctx.check(400 <= r.status < 500, f"the first access token still works after the code was reused (HTTP {r.status})", WARN)
    ctx.note("reuse refused with invalid_grant; the first token revoked")


@fapi("ensure-token-endpoint-fails-with-expired-auth-code", waits=62)
def expired_code(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    time.sleep(62)
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=run.client, dpop=run.dpop)
    if r.status == 200:
        ctx.stop("a code 62 s old was redeemed (FAPI 2.0: at most 60 s)")
    checks.check_terr(ctx, r, {"invalid_grant"})
    ctx.note("a 62-second-old code: invalid_grant")


@fapi("ensure-signed-client-assertion-with-RS256-fails")
def assertion_rs256(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    if run.client.key_alg != "PS256":
        ctx.skip("the client key is not PS256")
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=run.client, dpop=run.dpop, alg="RS256")
    checks.check_terr(ctx, r, {"invalid_client"}, allow_401_for_invalid_client=True)
    ctx.note(f"RS256 assertion refused: HTTP {r.status}")


def _bad_assertion(ctx, env, m, **akw):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    auth = akw.pop("auth", "assertion")
    pairs = token_pairs(run) + ([("client_id", run.client.client_id)] if auth is None else [])
    r = post(env, f.disc["token_endpoint"], pairs, c=run.client, dpop=run.dpop, auth=auth, **akw)
    checks.check_terr(ctx, r, {"invalid_client", "invalid_request"}, allow_401_for_invalid_client=True)
    ctx.note(f"refused: HTTP {r.status} {r.json().get('error') if r.media_type == 'application/json' else ''}")


@fapi("ensure-client-assertion-in-token-endpoint")
def no_assertion(ctx, env, m):
    _bad_assertion(ctx, env, m, auth=None)


@fapi("ensure-client-assertion-with-exp-is-5-minutes-in-past-fails")
def assertion_expired(ctx, env, m):
    now = int(time.time())
    _bad_assertion(ctx, env, m, claims={"exp": now - 300, "iat": now - 360, "nbf": now - 360})


@fapi("ensure-client-assertion-with-wrong-aud-fails")
def assertion_wrong_aud(ctx, env, m):
    _bad_assertion(ctx, env, m, aud="https://another-server.invalid")


@fapi("ensure-client-assertion-with-no-sub-fails")
def assertion_no_sub(ctx, env, m):
    _bad_assertion(ctx, env, m, drop=("sub",))


@fapi("dpop-negative-tests")
def dpop_negative(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    redeem(ctx, env, f, run)
    key, at = run.dpop, run.token["access_token"]
    ui = f.disc["userinfo_endpoint"]

    def call(proof, scheme="DPoP", headers=None, extra_header=None):
        h = {"Authorization": f"{scheme} {at}", "Accept": "application/json"}
        if proof is not None:
            h["DPoP"] = proof
        h.update(headers or {})
        if extra_header:
            return env.http.request_multi("GET", ui, list(h.items()) + extra_header)
        return env.http.request("GET", ui, h)

    def refused(what, r):
        ctx.check(r.status in (400, 401), f"{what}: HTTP {r.status}, expected 400 or 401")

    good = lambda **kw: key.proof("GET", ui, token=at, **kw)  # noqa: E731
    refused("two DPoP headers", call(None, extra_header=[("DPoP", good()), ("DPoP", good())]))
    refused("malformed JWT", call("not.a.jwt"))
    for missing in ("jti", "htm", "htu", "iat", "ath"):
        refused(f"no {missing}", call(good(claims={missing: None})))
    refused("no typ", call(good(header={"typ": None})))
    refused("no jwk", call(good(header={"jwk": None})))
    refused("typ JWT", call(good(header={"typ": "JWT"})))
    refused("alg none", call(jose.b64u(json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}).encode()) + "."
                             + good().split(".")[1] + "."))
    rsa = DpopKey("PS256")
    refused("RS256", call(rsa.proof("GET", ui, token=at, alg="RS256")))
    bad_sig = good().rsplit(".", 1)[0] + "." + jose.b64u(b"\0" * 64)
    refused("bad signature", call(bad_sig))
    priv = dict(key.jwk, d=jose.b64u(secrets.token_bytes(32)))
    refused("private key in jwk", call(good(header={"jwk": priv})))
    refused("htm PUT", call(key.proof("PUT", ui, token=at)))
    refused("htu of another URL", call(key.proof("GET", f.disc["token_endpoint"], token=at)))
    refused("iat an hour ago", call(good(iat_offset=-3600)))
    refused("iat an hour ahead", call(good(iat_offset=3600)))
    refused("wrong ath", call(key.proof("GET", ui, token=at + "x")))
    refused("another key", call(DpopKey().proof("GET", ui, token=at)))
    refused("no proof", call(None))
    refused("no proof, scheme Bearer", call(None, scheme="Bearer"))
    # Variations the RS must accept.
    r = call(None, headers={"DPOP": good()})
    ctx.check(r.status == 200, f"an all-caps DPOP header name: HTTP {r.status}", WARN)
    p = urllib.parse.urlsplit(ui)
    for what, url, sev in (("htu with a query", ui + "?x=1", checks.FAIL), ("htu with a fragment", ui + "#f", checks.FAIL),
                           ("htu in upper case scheme and host", f"HTTPS://{p.netloc.upper()}{p.path}", WARN),
                           ("htu with the default port", f"https://{p.hostname}:{p.port or 443}{p.path}", WARN)):
        r = call(key.proof("GET", url, token=at))
        ctx.check(r.status == 200, f"{what}: HTTP {r.status}", sev)
    r = call(good(header={"x-extra": "1"}, claims={"x-extra": "1"}))
    ctx.check(r.status == 200, f"extra header fields and claims: HTTP {r.status}")
    replay = good()
    ctx.check(call(replay).status == 200, "a final valid proof was refused")
    ctx.check(call(replay).status in (400, 401), "a replayed jti was accepted", WARN)
    ctx.note("every bad proof at the resource refused, every tolerated variation accepted")


# ---- 42: refresh ----------------------------------------------------------------------------

@fapi("refresh-token", waits=31)
def refresh(ctx, env, m):
    f = configure(ctx, env)
    run = base_flow(ctx, env, f)
    rt = run.token.get("refresh_token")
    if not rt:
        ctx.skip("no refresh token issued")
    url = f.disc["token_endpoint"]
    pairs = [("grant_type", "refresh_token"), ("refresh_token", rt)]
    r = post(env, url, pairs, c=run.client, dpop=run.dpop, ctx=ctx)
    if r.status != 200:
        ctx.stop(f"refresh answered HTTP {r.status}: {r.text[:160]!r}")
    body = token_body(ctx, r)
    old = jose.Jwt(run.token["id_token"]).claims
    new = checks.check_id_token(ctx, body.get("id_token"), client_id=run.client.client_id, issuer=env.issuer, jwks=f.jwks, nonce=checks.ANY,
                                access_token=body["access_token"], expected_alg=run.client.id_token_alg, label="refreshed ID token")
    for k in ("iss", "sub", "aud", "auth_time"):
        ctx.check(new.claims.get(k) == old.get(k), f"refreshed ID token {k} differs")
    if body.get("refresh_token") and body["refresh_token"] != rt:
        time.sleep(30)
        r = post(env, url, pairs, c=run.client, dpop=run.dpop, ctx=ctx)
        ctx.check(r.status == 200, f"the previous refresh token retried 30 s after rotation answered HTTP {r.status} (FAPI 2.0 5.3.2.1)")
    r = post(env, url, pairs, c=None, dpop=run.dpop, auth=None)
    ctx.check(r.status in (400, 401), f"a refresh without client authentication answered HTTP {r.status}")
    r = post(env, url, pairs, c=run.client)
    ctx.check(r.status == 400 and r.json().get("error") in {"invalid_request", "invalid_grant", "invalid_dpop_proof"},
              f"a refresh without a DPoP proof answered HTTP {r.status}")
    two = env.clients["fapi2-2"]
    r = post(env, url, pairs, c=two, dpop=run.dpop)
    ctx.check(r.status == 400 and r.json().get("error") == "invalid_grant", f"client 1's refresh token used by client 2 answered HTTP {r.status}")
    ctx.note("refresh: DPoP token, no-store, retry of the rotated token works, refusals right")


# ---- 47–62: PAR --------------------------------------------------------------------------

def _front_page(ctx, env, f, run, *, customer=None, client_id=None, only_minimal=False) -> Outcome:
    return front(ctx, env, f, run, customer=customer, client_id=client_id, only_minimal=only_minimal, consent="none")


@fapi("par-ensure-reused-request_uri-prior-to-auth-completion-succeeds")
def par_reuse_before_completion(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f)
    push(ctx, env, f, run)
    o = _front_page(ctx, env, f, run)
    ctx.check(o.kind == "page" and o.page.kind() == "login", "the first visit did not stop at the login page")
    o = front(ctx, env, f, run, customer=env.customer())
    if o.kind == "page":
        ctx.warn(f"the request_uri opened a second time before login gave a page ({o.page.resp.status} {o.page.h1.strip()!r})")
        ctx.fail("an error for a request_uri reused before completion must be invalid_request_uri with state")
        return
    if "error" in o.callback.params:
        ctx.warn(f"error {o.callback.params['error']!r} for a request_uri reused before completion")
        ctx.check(o.callback.params["error"] == "invalid_request_uri" and o.callback.params.get("state") == run.state,
                  "the error must be invalid_request_uri with state")
        return
    success_callback(ctx, env, run)
    redeem(ctx, env, f, run)
    ctx.note("the request_uri opened twice before login still completes")


@fapi("par-attempt-reuse-request_uri")
def par_reuse(ctx, env, m):
    f = configure(ctx, env)
    run = base_flow(ctx, env, f)
    o = front(ctx, env, f, run, customer=env.customer())
    if o.kind == "page":
        error_page(ctx, o.page, "error page for a reused request_uri")
        ctx.note("a used request_uri: error page")
        return
    if "error" in o.callback.params:
        ctx.check(o.callback.params["error"] == "invalid_request_uri", f"error {o.callback.params['error']!r}, expected invalid_request_uri")
        return
    ctx.warn("a used request_uri was accepted again")


@fapi("par-attempt-to-use-expired-request_uri", waits=61)
def par_expired(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f)
    r = push(ctx, env, f, run)
    exp = r.json()["expires_in"]
    if exp > 1800:
        ctx.skip(f"expires_in {exp} s is more than 30 minutes")
    time.sleep(exp + 1)
    o = front(ctx, env, f, run, customer=env.customer())
    if o.kind == "page":
        error_page(ctx, o.page, "error page for an expired request_uri")
        ctx.note(f"request_uri expired after {exp} s: error page")
        return
    ctx.check(o.callback.params.get("error") == "invalid_request_uri", f"an expired request_uri gave {o.callback.params}")


def _par_assertion(ctx, env, expected_ok: bool, **akw):
    f = configure(ctx, env)
    run = start(ctx, env, f)
    r = push(ctx, env, f, run, expect_ok=False, **akw)
    if expected_ok:
        if r.status != 201:
            ctx.warn(f"PAR refused the assertion: HTTP {r.status} {r.text[:120]!r}")
            return
        ctx.note("PAR accepted the assertion")
        return
    ctx.check(r.status in (400, 401), f"PAR answered HTTP {r.status}, expected 400 or 401")
    err = r.json().get("error") if r.media_type == "application/json" else None
    ctx.check(err in {"invalid_client", "invalid_request"}, f"PAR error {err!r}")
    ctx.check(not (r.status == 401 and err != "invalid_client"), "401 only with invalid_client")
    ctx.note(f"PAR refused the assertion: {r.status} {err}")


@fapi("par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted")
def par_nbf_8(ctx, env, m):
    now = int(time.time())
    _par_assertion(ctx, env, True, claims={"iat": now + 8, "nbf": now + 8, "exp": now + 68})


@fapi("par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails")
def par_nbf_60(ctx, env, m):
    now = int(time.time())
    _par_assertion(ctx, env, False, claims={"iat": now + 70, "nbf": now + 70, "exp": now + 130})


@fapi("par-attempt-to-use-request_uri-for-different-client")
def par_other_client(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f)
    push(ctx, env, f, run)
    o = front(ctx, env, f, run, customer=env.customer(), client_id=env.clients["fapi2-2"].client_id)
    if o.kind == "page":
        error_page(ctx, o.page, "error page for another client's request_uri")
        ctx.note("another client's request_uri: error page")
        return
    ctx.check(o.callback.params.get("error") in {"invalid_request", "invalid_request_object", "invalid_request_uri"},
              f"another client's request_uri gave {o.callback.params}")


@fapi("par-authorization-request-containing-request_uri-form-param")
def par_with_request_uri(ctx, env, m):
    f = configure(ctx, env)
    run = start(ctx, env, f, extra=[("request_uri", "urn:ietf:params:oauth:request_uri:" + rand_alnum(20))])
    r = push(ctx, env, f, run, expect_ok=False)
    checks.check_terr(ctx, r, {"invalid_request", "invalid_request_object", "request_uri_not_supported"}, where="PAR")
    ctx.note("request_uri inside PAR refused")


@fapi("par-attempt-invalid-http-method")
def par_put(ctx, env, m):
    f = configure(ctx, env)
    r = env.http.request("PUT", f.disc["pushed_authorization_request_endpoint"], {"Content-Type": "application/x-www-form-urlencoded"}, b"")
    ctx.check(r.status >= 400, f"PUT to the PAR endpoint answered HTTP {r.status}")
    ctx.note(f"PUT: HTTP {r.status}")


def _par_refused(ctx, env, errors, what, **kw):
    f = configure(ctx, env)
    run = start(ctx, env, f, **kw)
    r = push(ctx, env, f, run, expect_ok=False)
    if r.status == 201:
        push(ctx, env, f, run)
        front(ctx, env, f, run, customer=env.customer())
        expect_refused_front(ctx, env, run, errors, what)
        return
    checks.check_terr(ctx, r, errors, where="PAR")
    ctx.note(f"{what}: PAR 400 {r.json().get('error')}")


@fapi("par-ensure-pkce-required")
def par_pkce_required(ctx, env, m):
    _par_refused(ctx, env, {"invalid_request"}, "no code_challenge", drop=("code_challenge", "code_challenge_method"))


@fapi("ensure-pkce-code-verifier-required")
def verifier_required(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    r = post(env, f.disc["token_endpoint"], token_pairs(run, verifier=None), c=run.client, dpop=run.dpop)
    checks.check_terr(ctx, r, {"invalid_grant"})
    ctx.note("no code_verifier: invalid_grant")


@fapi("incorrect-pkce-code-verifier-rejected")
def verifier_wrong(ctx, env, m):
    f = configure(ctx, env)
    run = _code(ctx, env, f)
    r = post(env, f.disc["token_endpoint"], token_pairs(run, verifier=pkce_pair()[0]), c=run.client, dpop=run.dpop)
    checks.check_terr(ctx, r, {"invalid_grant"})
    ctx.note("wrong code_verifier: invalid_grant")


@fapi("par-plain-pkce-rejected")
def par_plain(ctx, env, m):
    verifier, _ = pkce_pair()
    _par_refused(ctx, env, {"invalid_request"}, "code_challenge_method=plain",
                 extra=[("code_challenge", verifier), ("code_challenge_method", "plain")])


@fapi("par-without-duplicate-parameters")
def par_minimal(ctx, env, m):
    f = configure(ctx, env)
    base_flow(ctx, env, f, minimal=True)
    ctx.note("the authorization URL with only client_id and request_uri")


@fapi("par-test-array-as-audience-fails")
def par_aud_array(ctx, env, m):
    _par_assertion(ctx, env, False, aud=[env.issuer, "https://other.invalid"])


@fapi("par-test-par-endpoint-url-as-audience-fails")
def par_aud_par(ctx, env, m):
    _par_assertion(ctx, env, False, aud=env.issuer + "/par")


@fapi("par-test-token-endpoint-url-as-audience-fails")
def par_aud_token(ctx, env, m):
    _par_assertion(ctx, env, False, aud=env.issuer + "/token")
