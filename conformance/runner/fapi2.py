"""fapi2-security-profile-final-test-plan, variant private_key_jwt + DPoP +
openid_connect (plain_fapi, unsigned PAR, plain response mode): the 56
modules that apply (checklist §1.7: every row but 24, 29 and 43–46), each
following the suite's module of the same name
(net.openid.conformance.fapi2spfinal.*) and the FAPI 2.0 conditions of
checklist §2.2 and §4.

Two clients registered with `--profile fapi2 --third-party` (a consent page,
so the tester can cancel in user-rejects-authentication): client 1 signs its
assertions PS256 with an RSA key (so RS256 with the same key can be tried),
client 2 ES256 with an EC key and a redirect URI with the suite's dummy
query. DPoP proofs use a fresh EC key per module unless a module says
otherwise; a `use_dpop_nonce` answer is retried once with the nonce, as the
suite does. The TLS checks of §4.9 are the deployment's (Kagi's built-in TLS
or its proxy) and are reported as INFO only.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from dataclasses import dataclass

from . import checks, jose, web
from .checks import WARN, Ctx
from .flows import Env, Outcome, Page, auth_params, drive, error_page, pkce_pair, rand_alnum
from .registry import FAPI2, module

PLAN = FAPI2
VARIANT = "private_key_jwt, dpop, openid_connect"
FAPI_ALGS = {"PS256", "ES256", "EdDSA", "Ed25519"}
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def fapi(name: str, waits: float = 0.0):
    return module(PLAN, f"fapi2-security-profile-final-{name}", VARIANT, waits)


# ---- DPoP (RFC 9449) as the suite's client makes it ---------------------------------------

class DpopKey:
    """A client's DPoP key; `nonce` keeps the last DPoP-Nonce the server sent."""

    def __init__(self, alg: str = "ES256"):
        self.alg = alg
        self.key = jose.new_rsa_key() if alg in ("PS256", "RS256") else jose.new_ec_key()
        jwk = jose.public_jwk(self.key, "x", alg)
        self.jwk = {k: v for k, v in jwk.items() if k not in ("kid", "use", "alg")}
        self.nonce: str | None = None

    def proof(self, method: str, url: str, *, token: str | None = None, iat_offset: int = 0, claims=None, header=None,
              alg: str | None = None) -> str:
        c = {"jti": rand_alnum(20), "htm": method, "htu": url, "iat": int(time.time()) + iat_offset}
        if token is not None:
            c["ath"] = jose.b64u(hashlib.sha256(token.encode()).digest())
        if self.nonce:
            c["nonce"] = self.nonce
        c.update(claims or {})
        h = {"typ": "dpop+jwt", "jwk": self.jwk}
        h.update(header or {})
        for k in [k for k, v in c.items() if v is None]:
            del c[k]
        for k in [k for k, v in h.items() if v is None]:
            del h[k]
        return jose.sign(alg or self.alg, self.key, h, c)

    def thumbprint(self) -> str:
        members = ("crv", "kty", "x", "y") if self.jwk["kty"] == "EC" else ("e", "kty", "n")
        canonical = json.dumps({m: self.jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        return jose.b64u(hashlib.sha256(canonical.encode()).digest())


def take_nonce(ctx: Ctx, r: web.Response, key: DpopKey | None):
    """The DPoP-Nonce header must occur once, be non-empty and NQCHAR (FAIL otherwise)."""
    values = [v for k, v in r.headers if k.lower() == "dpop-nonce"]
    if not values:
        return
    ctx.check(len(values) == 1, "DPoP-Nonce header occurs more than once")
    ctx.check(values[0] != "" and checks.nqchar(values[0]), f"DPoP-Nonce {values[0]!r} is empty or not NQCHAR")
    if key is not None:
        key.nonce = values[0]


def wants_nonce(r: web.Response) -> bool:
    if r.status == 400:
        try:
            return r.json().get("error") == "use_dpop_nonce"
        except ValueError:
            return False
    return r.status == 401 and "use_dpop_nonce" in (r.header("www-authenticate") or "")


# ---- client authentication (FAPI 2.0 form: aud = the issuer, as a string) ------------------

def assertion(env: Env, c, *, aud=None, claims=None, alg: str | None = None, drop=()) -> str:
    now = int(time.time())
    body = {"iss": c.client_id, "sub": c.client_id, "aud": env.issuer if aud is None else aud, "jti": rand_alnum(20),
            "iat": now, "nbf": now, "exp": now + 60}
    body.update(claims or {})
    for k in drop:
        body.pop(k, None)
    return jose.sign(alg or c.key_alg, c.private_key, {"kid": c.kid, "typ": "JWT"}, body)


def post(env: Env, url: str, pairs: list, *, c=None, dpop: DpopKey | None = None, proof=None, auth: str | None = "assertion",
         ctx: Ctx | None = None, **akw) -> web.Response:
    """A back-channel POST with the client's assertion and a DPoP proof (retried once on use_dpop_nonce)."""
    for attempt in (1, 2):
        body = list(pairs)
        if auth == "assertion" and c is not None:
            body += [("client_assertion_type", JWT_BEARER), ("client_assertion", assertion(env, c, **akw))]
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if proof is not None:
            headers["DPoP"] = proof
        elif dpop is not None:
            headers["DPoP"] = dpop.proof("POST", url)
        r = env.http.request("POST", url, headers, web.form(body))
        if ctx is not None:
            take_nonce(ctx, r, dpop)
        if attempt == 1 and dpop is not None and proof is None and wants_nonce(r):
            continue
        return r
    return r


def resource(env: Env, disc: dict, token_type: str, token: str, dpop: DpopKey | None, *, proof=None, headers=None,
             url: str | None = None, ctx: Ctx | None = None, method: str = "GET") -> web.Response:
    """A protected-resource call (the userinfo endpoint), the token under its token_type."""
    target = url or disc["userinfo_endpoint"]
    for attempt in (1, 2):
        h = {"Authorization": f"{token_type} {token}", "Accept": "application/json"}
        if proof is not None:
            h["DPoP"] = proof
        elif dpop is not None:
            h["DPoP"] = dpop.proof(method, disc["userinfo_endpoint"], token=token)
        h.update(headers or {})
        r = env.http.request(method, target, h)
        if ctx is not None:
            take_nonce(ctx, r, dpop)
        if attempt == 1 and dpop is not None and proof is None and wants_nonce(r):
            continue
        return r
    return r


# ---- the base flow -------------------------------------------------------------------------

@dataclass
class Fapi:
    disc: dict
    jwks: dict


def configure(ctx: Ctx, env: Env) -> Fapi:
    r, disc = env.get_json(ctx, env.discovery_url, "discovery document")
    if not isinstance(disc, dict):
        ctx.stop("discovery document is not a JSON object")
    for k in ("issuer", "authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint", "userinfo_endpoint", "jwks_uri"):
        if not checks.is_url(disc.get(k), https=True):
            ctx.stop(f"discovery {k} is missing or not an https URL")
    _, jwks = env.get_json(ctx, disc["jwks_uri"], "JWKS")
    checks.check_jwks(ctx, jwks, flow_module=True)
    ctx.info("TLS version and cipher checks (checklist 4.9) are left to the deployment's TLS")
    return Fapi(disc, jwks)


@dataclass
class Run:
    """One FAPI 2.0 authorization: what was pushed, where the browser went, the tokens."""

    client: object
    pushed: list
    state: str | None
    nonce: str | None
    verifier: str
    dpop: DpopKey
    request_uri: str | None = None
    outcome: Outcome | None = None
    code: str | None = None
    token: dict | None = None
    par_resp: web.Response | None = None


def par_pairs(c, *, state_len=10, nonce_len=10, scope="openid", extra=(), drop=(), challenge=None) -> tuple[list, str | None, str | None, str]:
    params, state, nonce = auth_params(c, scope=scope, state_len=state_len, nonce_len=nonce_len)
    verifier, ch = pkce_pair()
    params += [("code_challenge", challenge or ch), ("code_challenge_method", "S256")]
    names = {k for k, _ in extra}
    params = [(k, v) for k, v in params if k not in names and k not in drop] + [(k, v) for k, v in extra if v is not None]
    return params, state, nonce, verifier


def push(ctx: Ctx, env: Env, f: Fapi, run: Run, *, par_proof: bool = False, proof=None, expect_ok: bool = True, **akw) -> web.Response:
    url = f.disc["pushed_authorization_request_endpoint"]
    r = post(env, url, run.pushed, c=run.client, dpop=run.dpop if par_proof else None, proof=proof, ctx=ctx, **akw)
    run.par_resp = r
    if not expect_ok:
        return r
    if r.status != 201:
        ctx.stop(f"PAR answered HTTP {r.status}: {r.text[:200]!r} (expected 201)")
    try:
        body = r.json()
    except ValueError:
        ctx.stop("PAR response is not JSON")
    ctx.check(r.media_type == "application/json", "PAR response Content-Type is not application/json")
    run.request_uri = body.get("request_uri")
    if not isinstance(run.request_uri, str) or ":" not in run.request_uri:
        ctx.stop("PAR response has no request_uri")
    checks.check_entropy(ctx, "request_uri", run.request_uri)
    exp = body.get("expires_in")
    ctx.check(isinstance(exp, int) and 5 <= exp < 31536000, f"PAR expires_in {exp!r} is missing or outside [5, 1 year)")
    return r


def front(ctx: Ctx, env: Env, f: Fapi, run: Run, *, customer, br=None, only_minimal=False, extra=(), client_id=None,
          consent: str | None = "accept") -> Outcome:
    """The browser opens client_id + request_uri (with response_type, scope and
    redirect_uri duplicated, as the suite sends them) and the user logs in."""
    c = run.client
    q = [("client_id", client_id or c.client_id), ("request_uri", run.request_uri or "")]
    if not only_minimal:
        q += [("response_type", "code"), ("scope", dict(run.pushed).get("scope", "openid")), ("redirect_uri", c.redirect_uri)]
    q += list(extra)
    br = br or env.browser()
    br.navigation_done()
    resp = br.get(web.with_query(f.disc["authorization_endpoint"], q), cross_site=True)
    o = drive(ctx, env, br, resp, customer=customer, allow_consent=consent == "accept")
    if consent == "decline" and o.kind == "page" and o.page.kind() == "consent":
        form = o.page.form("/authorize/consent")
        r = br.submit(o.page.resp, env.issuer + "/authorize/consent", Page.hidden(form) + [("decision", "decline")])
        o = drive(ctx, env, br, r, customer=None, allow_login=False)
    if o.kind == "callback":
        o.callback = checks.receive(ctx, o.callback, form_post=False)
    run.outcome = o
    return o


def success_callback(ctx: Ctx, env: Env, run: Run):
    o = run.outcome
    if o is None or o.kind != "callback":
        what = f"{o.page.resp.status} page {o.page.h1.strip()!r}" if o and o.page else "nothing"
        ctx.stop(f"expected a redirect to the client, the browser stayed at the OP on a {what}")
    cb = o.callback
    checks.check_redirect_target(ctx, cb, run.client.redirect_uri)
    checks.check_callback_common(ctx, cb, run.client.redirect_uri, env.issuer)
    ctx.check(cb.params.get("iss") == env.issuer, "authorization response lacks iss equal to the issuer (RequireIssInAuthorizationResponse)")
    if "error" in cb.params:
        ctx.stop(f"authorization endpoint returned error={cb.params['error']!r} ({cb.params.get('error_description')!r})")
    checks.check_state(ctx, cb, run.state)
    ctx.check("code" not in cb.fragment and "state" not in cb.fragment, "code or state in the fragment")
    reg = urllib.parse.parse_qsl(urllib.parse.urlsplit(run.client.redirect_uri).query)
    for k, v in reg:
        ctx.check(cb.params.get(k) == v, f"the registered redirect URI's query parameter {k} did not come back")
    run.code = cb.params.get("code")
    if not run.code:
        ctx.stop("authorization response has no code")
    checks.check_entropy(ctx, "authorization code", run.code)


def token_pairs(run: Run, *, verifier: str | None = "same") -> list:
    pairs = [("grant_type", "authorization_code"), ("code", run.code or ""), ("redirect_uri", run.client.redirect_uri)]
    v = run.verifier if verifier == "same" else verifier
    if v is not None:
        pairs.append(("code_verifier", v))
    return pairs


def redeem(ctx: Ctx, env: Env, f: Fapi, run: Run, *, label="ID token") -> dict:
    r = post(env, f.disc["token_endpoint"], token_pairs(run), c=run.client, dpop=run.dpop, ctx=ctx)
    if r.status != 200:
        ctx.stop(f"token endpoint answered HTTP {r.status}: {r.text[:200]!r}")
    body = token_body(ctx, r)
    checks.check_id_token(ctx, body.get("id_token"), client_id=run.client.client_id, issuer=env.issuer, jwks=f.jwks,
                          nonce=run.nonce, access_token=body["access_token"], code=run.code, expected_alg=run.client.id_token_alg,
                          label=label)
    idt = jose.Jwt(body["id_token"])
    ctx.check(idt.header.get("alg") in FAPI_ALGS, f"ID token alg {idt.header.get('alg')!r} is not PS256, ES256 or EdDSA (FAPI2ValidateIdTokenSigningAlg)")
    ctx.check(bool(idt.header.get("kid")), "ID token has no kid")
    run.token = body
    return body


def token_body(ctx: Ctx, r: web.Response) -> dict:
    try:
        body = r.json()
    except ValueError:
        ctx.stop("token response is not JSON")
    if not isinstance(body, dict) or not body.get("access_token"):
        ctx.stop(f"token response has no access_token: {body!r}")
    ctx.check(str(body.get("token_type", "")).lower() == "dpop", f"token_type {body.get('token_type')!r}, expected DPoP")
    ctx.check("no-store" in (r.header("cache-control") or ""), "token response lacks Cache-Control: no-store")
    checks.check_entropy(ctx, "access token", body["access_token"])
    if body.get("refresh_token"):
        checks.check_entropy(ctx, "refresh token", body["refresh_token"])
    checks.check_expires_in(ctx, body, WARN)
    return body


def call_resource(ctx: Ctx, env: Env, f: Fapi, run: Run, **kw) -> web.Response:
    r = resource(env, f.disc, run.token["token_type"], run.token["access_token"], run.dpop, ctx=ctx, **kw)
    ctx.check(r.status in (200, 201), f"resource (userinfo) answered HTTP {r.status}: {r.text[:160]!r}")
    if r.status in (200, 201):
        date = r.header("date")
        try:
            from email.utils import parsedate_to_datetime
            ok = date is not None and abs(parsedate_to_datetime(date).timestamp() - time.time()) <= 300
        except (TypeError, ValueError):
            ok = False
        ctx.check(ok, f"resource Date header {date!r} missing or more than 5 minutes off")
    return r


def start(ctx: Ctx, env: Env, f: Fapi, which: str = "fapi2", *, dpop: DpopKey | None = None, **kw) -> Run:
    c = env.clients[which]
    pushed, state, nonce, verifier = par_pairs(c, **kw)
    return Run(c, pushed, state, nonce, verifier, dpop or DpopKey())


def base_flow(ctx: Ctx, env: Env, f: Fapi, which: str = "fapi2", *, par_proof=False, customer=None, resource_call=True,
              minimal=False, **kw) -> Run:
    run = start(ctx, env, f, which, **kw)
    push(ctx, env, f, run, par_proof=par_proof)
    front(ctx, env, f, run, customer=customer or env.customer(), only_minimal=minimal)
    success_callback(ctx, env, run)
    redeem(ctx, env, f, run)
    if resource_call:
        call_resource(ctx, env, f, run)
    return run


def registered_query(c) -> list[str]:
    """The names of the registered redirect URI's own query, which come back with every response."""
    return [k for k, _ in urllib.parse.parse_qsl(urllib.parse.urlsplit(c.redirect_uri).query)]


def expect_par_error(ctx: Ctx, r: web.Response, expected: set[str], *, allow_401=False, what="PAR"):
    checks.check_terr(ctx, r, expected, allow_401_for_invalid_client=allow_401, where=what)


def expect_refused_front(ctx: Ctx, env: Env, run: Run, errors: set[str], what: str):
    """An error page, or a redirect to the client with one of `errors` (and state)."""
    o = run.outcome
    if o.kind == "page":
        error_page(ctx, o.page, what)
        return
    cb = o.callback
    ctx.check("code" not in cb.params, f"{what}: a code was issued")
    checks.check_err(ctx, cb, run.state, env.issuer, redirect_uri=run.client.redirect_uri,
                     extra_expected=registered_query(run.client))
    ctx.check(cb.params.get("error") in errors, f"{what}: error {cb.params.get('error')!r}, expected one of {sorted(errors)}")
