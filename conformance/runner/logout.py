"""oidcc-config-certification-test-plan, oidcc-rp-initiated-logout-certification-test-plan
and oidcc-backchannel-rp-initiated-logout-certification-test-plan."""

from __future__ import annotations

import json
import time
import urllib.parse

from . import checks, flows, jose, web
from .checks import UI_REQUIRED, WARN, Callback, Ctx
from .flows import Env, Flow, Page, auth_params, authorize, configure, error_page, happy, logged_out_page
from .registry import BC_LOGOUT, CONFIG, RP_LOGOUT, module

CONFIG_PLAN = CONFIG
RPI_PLAN = RP_LOGOUT
BC_PLAN = BC_LOGOUT
BC_EVENT = "http://schemas.openid.net/event/backchannel-logout"


# ---- discovery --------------------------------------------------------------------------

def fetch_discovery(ctx: Ctx, env: Env):
    r = env.http.request("GET", env.discovery_url, {"Accept": "application/json"})
    try:
        disc = r.json()
    except ValueError:
        ctx.stop(f"discovery document is not JSON (HTTP {r.status}) (GetDynamicServerConfiguration)")
    if not isinstance(disc, dict):
        ctx.stop("discovery document is not a JSON object")
    return r, disc


def _https_or_fail(ctx, disc, key, required=True):
    v = disc.get(key)
    if v is None:
        if required:
            ctx.fail(f"{key} is missing")
        return
    ctx.check(checks.is_url(v), f"{key} {v!r} is not a valid https URL")


@module(CONFIG_PLAN, "oidcc-discovery-endpoint-verification", "discovery, static_client")
def discovery_endpoint_verification(ctx, env, m):
    r, d = fetch_discovery(ctx, env)
    ctx.check(r.status == 200, f"discovery answered HTTP {r.status} (EnsureDiscoveryEndpointResponseStatusCodeIs200)")
    ctx.check(r.media_type == "application/json", f"discovery Content-Type {r.header('content-type')!r} (CheckDiscoveryEndpointReturnedJsonContentType)")
    rts = d.get("response_types_supported")
    known = {frozenset(x.split(" ")) for x in ("code", "id_token", "code id_token", "id_token token", "code id_token token", "code token")}
    ctx.check(isinstance(rts, list) and any(isinstance(x, str) and frozenset(x.split(" ")) in known for x in rts),
              "response_types_supported lacks every OIDC response type (OIDCCCheckDiscEndpointResponseTypesSupported)")
    u = urllib.parse.urlsplit(env.discovery_url)
    ctx.check(u.scheme == "https" and u.path.endswith("/.well-known/openid-configuration"), "discovery URL is not https or not .../.well-known/openid-configuration")
    iss = d.get("issuer")
    expected = env.discovery_url[: -len(".well-known/openid-configuration")]
    ctx.check(isinstance(iss, str) and iss.rstrip("/") == expected.rstrip("/"), f"issuer {iss!r} does not match the discovery URL prefix {expected!r} (CheckDiscEndpointIssuer)")
    if isinstance(iss, str):
        p = urllib.parse.urlsplit(iss)
        try:
            port_ok = p.port is None or p.port <= 65535
        except ValueError:
            port_ok = False
        ctx.check(p.scheme == "https" and bool(p.hostname) and not p.query and not p.fragment and p.username is None and port_ok,
                  f"issuer {iss!r} is not a valid https URL without query, fragment or userinfo (CheckDiscEndpointIssuerIsValidUrl)")
    checks.check_metadata_schema(ctx, d)
    st = d.get("subject_types_supported")
    ctx.check(isinstance(st, list) and bool({"public", "pairwise"} & set(st)), "subject_types_supported lacks public and pairwise")
    algs = d.get("id_token_signing_alg_values_supported")
    ctx.check(isinstance(algs, list) and "RS256" in algs, "id_token_signing_alg_values_supported lacks RS256 (OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported)")
    if "userinfo_signing_alg_values_supported" in d:
        ctx.check(isinstance(d["userinfo_signing_alg_values_supported"], list), "userinfo_signing_alg_values_supported is not an array")
    _https_or_fail(ctx, d, "authorization_endpoint")
    _https_or_fail(ctx, d, "token_endpoint")
    if "userinfo_endpoint" in d:
        _https_or_fail(ctx, d, "userinfo_endpoint")
    else:
        ctx.warn("userinfo_endpoint is absent")
    _https_or_fail(ctx, d, "registration_endpoint", required=False)
    _https_or_fail(ctx, d, "jwks_uri")
    jr = env.http.request("GET", d.get("jwks_uri", ""), {"Accept": "application/json"}) if isinstance(d.get("jwks_uri"), str) else None
    try:
        jwks = jr.json() if jr is not None else None
    except ValueError:
        jwks = None
    checks.check_jwks(ctx, jwks, flow_module=False)
    if d.get("request_parameter_supported") is not True:
        ctx.info("request_parameter_supported is not true")
    if "request_object_signing_alg_values_supported" in d:
        ctx.check("RS256" in (d["request_object_signing_alg_values_supported"] or []), "request_object_signing_alg_values_supported lacks RS256", WARN)
    ctx.check(isinstance(d.get("claims_supported"), list), "claims_supported is missing or not an array (OIDCCCheckDiscEndpointClaimsSupported)", WARN)
    if "grant_types_supported" in d:
        g = d["grant_types_supported"]
        ctx.check(isinstance(g, list) and len(g) > 0, "grant_types_supported is not a non-empty array")
    if "scopes_supported" in d:
        s = d["scopes_supported"]
        ctx.check(isinstance(s, list) and "openid" in s, "scopes_supported lacks openid (CheckDiscEndpointScopesSupportedContainsOpenId)")
        if isinstance(s, list):
            bad = [x for x in s if not isinstance(x, str) or x == "" or not checks.nqchar(x)]
            ctx.check(not bad, f"scopes_supported has entries that are not RFC 6749 scope tokens: {bad}")
    else:
        ctx.warn("scopes_supported is absent")
    checks.check_locales(ctx, d)
    checks.check_all_endpoints_https(ctx, d)
    ccm = d.get("code_challenge_methods_supported")
    if ccm not in (None, []):
        ctx.check(isinstance(ccm, list) and bool({"S256", "plain"} & set(ccm)), "code_challenge_methods_supported lacks S256 and plain")
    ctx.note(f"{len(d)} metadata fields, {len((jwks or {}).get('keys', []))} keys")


@module(RPI_PLAN, "oidcc-rp-initiated-logout-discovery-endpoint-verification", "discovery")
def rpi_discovery(ctx, env, m):
    _, d = fetch_discovery(ctx, env)
    checks.check_all_endpoints_https(ctx, d)
    _https_or_fail(ctx, d, "end_session_endpoint")
    ctx.note(f"end_session_endpoint {d.get('end_session_endpoint')}")


@module(BC_PLAN, "oidcc-backchannel-logout-discovery-endpoint-verification", "discovery")
def bc_discovery(ctx, env, m):
    _, d = fetch_discovery(ctx, env)
    checks.check_all_endpoints_https(ctx, d)
    ctx.check(d.get("backchannel_logout_supported") is True, "backchannel_logout_supported is not true (CheckDiscEndpointBackchannelLogoutSupported)")
    ctx.check(d.get("backchannel_logout_session_supported") is True, "backchannel_logout_session_supported is not true (required for certification)")
    _https_or_fail(ctx, d, "end_session_endpoint")
    ctx.note("back-channel logout with sessions advertised")


# ---- RP-initiated logout ---------------------------------------------------------------

def _confirm_form(page: Page):
    for f in page.forms:
        if any(b.get("id") == "logout-confirm" for b in f["buttons"]) or any(i.get("id") == "logout-confirm" for i in f["inputs"]):
            return f
    return None


def _follow(ctx: Ctx, env: Env, br: web.Browser, resp: web.Response, cross_site: bool = False):
    """Follow OP-internal redirects; returns ("callback", Callback) or ("page", Page)."""
    for _ in range(20):
        if resp.status in (301, 302, 303, 307, 308):
            loc = resp.location
            flows.check_form_redirect(ctx, br, loc)
            if not br._is_op(loc):
                br.navigation_done()
                return "callback", Callback(loc)
            resp = br.get(loc, cross_site=cross_site)
            continue
        br.navigation_done()
        page = Page(resp)
        if page.refresh_url:  # <meta http-equiv=refresh>: the browser navigates on its own
            if not br._is_op(page.refresh_url):
                return "callback", Callback(page.refresh_url)
            resp = br.get(page.refresh_url)
            continue
        return "page", page
    ctx.stop("too many redirects inside the OP")


def _confirm(ctx, env, br, page: Page):
    """The user presses the logout confirmation button."""
    f = _confirm_form(page)
    action = urllib.parse.urljoin(page.resp.url, f["action"] or page.resp.url)
    pairs = Page.hidden(f)
    btn = next((b for b in f["buttons"] if b.get("id") == "logout-confirm"), None)
    if btn is not None and btn.get("name"):
        pairs.append((btn["name"], btn.get("value", "")))
    if f["method"] == "post":
        return _follow(ctx, env, br, br.submit(page.resp, action, pairs))
    return _follow(ctx, env, br, br.get(web.with_query(action, pairs)))


class Logout:
    """The shared part of the logout modules (AbstractOIDCCRpInitiatedLogout)."""

    def __init__(self, ctx: Ctx, env: Env, client_key: str):
        self.ctx, self.env = ctx, env
        self.client = env.clients[client_key]
        self.srv = configure(ctx, env, self.client)
        if not checks.is_url(self.srv.disc.get("end_session_endpoint"), https=False):
            ctx.stop("discovery has no end_session_endpoint")
        self.br = env.browser()
        self.customer = env.customer()
        self.first = happy(ctx, env, self.srv, self.br, self.client, self.customer, state_len=128)
        self.state = flows.end_session_state()
        self.request: dict[str, str] = {"id_token_hint": self.first.id_token.raw,
                                        "post_logout_redirect_uri": self.client.post_logout_redirect_uri, "state": self.state}

    def end_session(self):
        url = web.with_query(self.srv.disc["end_session_endpoint"], list(self.request.items()))
        return _follow(self.ctx, self.env, self.br, self.br.get(url, cross_site=True), cross_site=True)

    def prompt_none_fails(self, what="after logout"):
        """The authorization with prompt=none that proves the session ended."""
        params, state, nonce = auth_params(self.client, state_len=128, extra=[("prompt", "none")])
        f = Flow(self.client, params, state, nonce)
        o = authorize(self.ctx, self.env, self.br, f, customer=None, allow_login=False, disc=self.srv.disc)
        if o.kind != "callback":
            self.ctx.fail(f"prompt=none {what} showed a page {o.seen} instead of redirecting with an error")
            return False
        cb = o.callback
        checks.check_err(self.ctx, cb, state, self.env.issuer, redirect_uri=self.client.redirect_uri)
        err = cb.params.get("error")
        return self.ctx.check(err in UI_REQUIRED, f"prompt=none {what}: got {('error=' + repr(err)) if err else 'a code: the session is still alive'}, expected login_required or another UI-required error")

    def expect_redirect(self, with_state: bool):
        """Modules that expect the browser back at post_logout_redirect_uri."""
        kind, x = self.end_session()
        if kind == "page" and _confirm_form(x) is not None:
            self.ctx.info("the OP asked the user to confirm the logout; the user confirmed")
            kind, x = _confirm(self.ctx, self.env, self.br, x)
        if kind != "callback":
            self.ctx.stop(f"expected a redirect to post_logout_redirect_uri, the OP showed a page (HTTP {x.resp.status}: {x.h1.strip()!r} {x.text[:120]!r})")
        cb = x
        plr = self.client.post_logout_redirect_uri
        self.ctx.check(cb.base == plr, f"redirected to {cb.base!r}, not to the post_logout_redirect_uri")
        if with_state:
            got = cb.params.get("state")
            self.ctx.check(got is not None, "state missing on the post-logout redirect (CheckPostLogoutState)")
            if got is not None:
                self.ctx.check(got == self.state, f"post-logout state differs: sent {self.state!r}, got {got!r}")
        else:
            self.ctx.check("state" not in cb.params, f"post-logout redirect carries a state although none was sent (CheckNoPostLogoutState): {cb.params.get('state')!r}")
        extra = sorted(set(cb.params) - {"state"})
        self.ctx.check(not extra, f"post-logout redirect has unexpected parameters {extra} (CheckForUnexpectedParametersInPostLogoutRedirect)", WARN)
        return cb

    def expect_page(self, what: str, logs_out: bool):
        """Screenshot modules: no redirect. Where the suite expects an error or a
        confirmation (logs_out False), the page is an error page or the logout
        confirmation; where it expects "you are logged out" (logs_out True), the
        logged-out page or the confirmation. A confirmation is pressed, as the
        tester would; what follows must not redirect and must be the logged-out
        page (or, where an error was acceptable, an error page)."""
        kind, x = self.end_session()
        if kind == "callback":
            self.ctx.stop(f"the OP redirected to {x.base!r}; it must show {what} instead")
        seen = f"{x.resp.status} {x.h1.strip()!r}"
        if _confirm_form(x) is not None:
            self.ctx.check(x.resp.status == 200 and x.h1.strip() != "", f"logout confirmation: HTTP {x.resp.status}, heading {x.h1.strip()!r}")
            kind, y = _confirm(self.ctx, self.env, self.br, x)
            if kind == "callback":
                self.ctx.stop(f"after the user confirmed, the OP redirected to {y.base!r}")
            if not logs_out and 400 <= y.resp.status < 500:
                error_page(self.ctx, y, "page after the logout confirmation")
            else:
                logged_out_page(self.ctx, y, "page after the logout confirmation")
            seen += f", confirmed -> {y.resp.status} {y.h1.strip()!r}"
        elif logs_out:
            logged_out_page(self.ctx, x, what)
        else:
            error_page(self.ctx, x, what)
        if logs_out and self.prompt_none_fails("after the logout page"):
            seen += ", session ended"
        self.ctx.note(f"page shown, no redirect ({seen}); suite: screenshot review")


LP = "logout"  # the logout plan's client


@module(RPI_PLAN, "oidcc-rp-initiated-logout")
def rp_initiated_logout(ctx, env, m):
    lo = Logout(ctx, env, LP)
    lo.expect_redirect(with_state=True)
    lo.prompt_none_fails()
    ctx.note("redirected with the 90-char state; session ended")


@module(RPI_PLAN, "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri")
def bad_post_logout_redirect_uri(ctx, env, m):
    lo = Logout(ctx, env, LP)
    lo.request["post_logout_redirect_uri"] = env.base("kagi-logout") + "/bad_post_logout_redirect_uri"
    lo.expect_page("an error or confirmation page for an unregistered post_logout_redirect_uri", logs_out=False)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-modified-id-token-hint")
def modified_id_token_hint(ctx, env, m):
    lo = Logout(ctx, env, LP)
    payload = lo.first.id_token.raw.split(".")[1]
    lo.request["id_token_hint"] = jose.b64u(b'{"alg": "none"}') + "." + payload + "."
    lo.expect_page("an error or confirmation page for an alg:none id_token_hint", logs_out=False)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-no-id-token-hint")
def no_id_token_hint(ctx, env, m):
    lo = Logout(ctx, env, LP)
    del lo.request["id_token_hint"]
    lo.expect_page("an error or confirmation page (no id_token_hint, no client_id)", logs_out=False)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-no-params")
def no_params(ctx, env, m):
    lo = Logout(ctx, env, LP)
    lo.request.clear()
    lo.expect_page("a logged-out page", logs_out=True)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-no-post-logout-redirect-uri")
def no_post_logout_redirect_uri(ctx, env, m):
    lo = Logout(ctx, env, LP)
    del lo.request["post_logout_redirect_uri"]
    lo.expect_page("a logged-out page", logs_out=True)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-no-state")
def no_state(ctx, env, m):
    lo = Logout(ctx, env, LP)
    del lo.request["state"]
    lo.expect_redirect(with_state=False)
    lo.prompt_none_fails()
    ctx.note("redirected without state; session ended")


@module(RPI_PLAN, "oidcc-rp-initiated-logout-only-state")
def only_state(ctx, env, m):
    lo = Logout(ctx, env, LP)
    lo.request = {"state": lo.state}
    lo.expect_page("a logged-out page", logs_out=True)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri")
def query_added(ctx, env, m):
    lo = Logout(ctx, env, LP)
    lo.request["post_logout_redirect_uri"] = lo.client.post_logout_redirect_uri + "?foo=bar"
    lo.expect_page("an error or confirmation page for a post_logout_redirect_uri with an added query", logs_out=False)


@module(RPI_PLAN, "oidcc-rp-initiated-logout-bad-id-token-hint")
def bad_id_token_hint(ctx, env, m):
    lo = Logout(ctx, env, LP)
    now = int(time.time())
    claims = {"iss": lo.client.client_id, "sub": "SubjectID", "aud": env.issuer, "nonce": "flibble", "iat": now, "exp": now + 300}
    lo.request["id_token_hint"] = jose.sign("HS256", (lo.client.secret or "").encode(), {"typ": "JWT"}, claims)
    lo.expect_page("an error or confirmation page for an id_token_hint signed by the client", logs_out=False)


# ---- back-channel logout ------------------------------------------------------------------

def check_logout_token(ctx: Ctx, env: Env, srv, raw: str, client_id: str, id_claims: dict):
    """ValidateLogoutTokenSignature, ValidateLogoutTokenClaims and the sub/sid/nonce checks."""
    try:
        jwt = jose.Jwt(raw)
    except (ValueError, UnicodeDecodeError) as e:
        ctx.stop(f"logout_token is not a JWS: {e}")
    checks.verify_jws(ctx, jwt, srv.jwks, "logout token")
    c = jwt.claims
    now = time.time()
    ctx.check(c.get("iss") == env.issuer, f"logout token iss {c.get('iss')!r} != issuer")
    aud = c.get("aud")
    ctx.check(aud == client_id or (isinstance(aud, list) and client_id in aud), f"logout token aud {aud!r} lacks the client_id")
    iat = c.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        ctx.fail("logout token has no numeric iat")
    else:
        ctx.check(iat <= now + 300, "logout token iat is in the future")
        ctx.check(iat >= now - 86400, "logout token iat is more than a day old")
    ctx.check(isinstance(c.get("jti"), str) and c.get("jti") != "", "logout token has no jti")
    ev = c.get("events")
    ok = isinstance(ev, dict) and list(ev) == [BC_EVENT] and ev[BC_EVENT] == {}
    ctx.check(ok, f"logout token events must be exactly {{{BC_EVENT!r}: {{}}}}, is {ev!r}")
    if "sub" in c:
        ctx.check(c["sub"] == id_claims.get("sub"), "logout token sub differs from the ID token sub (CheckIdTokenSubMatchesLogoutToken)")
    if "sid" in c:
        ctx.check(c["sid"] == id_claims.get("sid"), f"logout token sid {c['sid']!r} differs from the ID token sid {id_claims.get('sid')!r} (CheckIdTokenSidMatchesLogoutToken)")
    ctx.check("nonce" not in c, "logout token carries a nonce (CheckLogoutTokenNoNonce)")
    ctx.check("sub" in c or "sid" in c, "logout token has neither sub nor sid")
    return jwt


@module(BC_PLAN, "oidcc-backchannel-rp-initiated-logout")
def backchannel_logout(ctx, env, m):
    lo = Logout(ctx, env, "bclogout")
    path = urllib.parse.urlsplit(lo.client.backchannel_logout_uri).path
    mark = env.backchannel.mark()
    lo.expect_redirect(with_state=True)
    got = env.backchannel.wait(path, mark, timeout=10.0)
    if not got:
        ctx.stop("no back-channel logout request reached backchannel_logout_uri within 10 s")
    req = got[0]
    ctx.info("the back-channel listener is plain http on loopback (Kagi's HTTP client trusts only public CAs), so the suite's TLS 1.2/1.3 checks of that call are not made")
    ct = (req.headers.get("Content-Type") or req.headers.get("content-type") or "").split(";")[0].strip().lower()
    ctx.check(ct == "application/x-www-form-urlencoded", f"back-channel request Content-Type {ct!r} is not a form")
    form = req.form
    tokens = [v for k, v in form if k == "logout_token"]
    if not tokens:
        ctx.stop("back-channel request has no logout_token (ExtractLogoutTokenFromBackchannelLogoutRequest)")
    other = sorted({k for k, _ in form} - {"logout_token"})
    ctx.check(not other, f"back-channel request has unexpected fields {other}", WARN)
    jwt = check_logout_token(ctx, env, lo.srv, tokens[0], lo.client.client_id, lo.first.id_token.claims)
    ctx.check(len(got) == 1, f"{len(got)} back-channel requests for one logout", WARN)
    lo.prompt_none_fails()
    ctx.note(f"logout token ({jwt.header.get('alg')}) with {sorted(k for k in ('sub', 'sid') if k in jwt.claims)}; redirect with state; session ended")
