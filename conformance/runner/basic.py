"""oidcc-basic-certification-test-plan and oidcc-formpost-basic-certification-test-plan:
the 35 modules that apply to a static client, each run twice (response_mode
default, and form_post as the Form Post plan does: the suite's
OIDCCFormPostBasicTestPlan is the Basic plan's module list with the
ResponseMode variant set to form_post). Also the client_secret_post /
private_key_jwt variants of the happy flow and refresh (the comprehensive
oidcc-test-plan), and the happy flow with Kagi's other ID-token algorithms.
Each function follows the suite's module of the same name
(net.openid.conformance.openid.*)."""

from __future__ import annotations

import json
import time

from . import checks, flows, jose
from .checks import INFO, UI_REQUIRED, WARN, Ctx
from .flows import Env, Flow, Server, auth_params, authorize, check_success_callback, configure, error_page, exchange, happy, userinfo
from .registry import BASIC, COMPREHENSIVE, FORM_POST, KAGI_VARIANTS, module

PLAN = BASIC
FP_PLAN = FORM_POST
FIRST = {"client_secret_basic": "basic", "client_secret_post": "post", "private_key_jwt": "pkjwt"}
SECOND = {"client_secret_basic": "basic2", "client_secret_post": "post2", "private_key_jwt": "pkjwt2"}


def cert(name: str, variant: str = "client_secret_basic", waits: float = 0.0):
    """Registers a module of the Basic plan and, with response_mode=form_post, of the Form Post plan."""
    def deco(fn):
        module(PLAN, name, variant, waits)(fn)
        module(FP_PLAN, name, f"{variant}, form_post", waits, response_mode="form_post")(fn)
        return fn
    return deco


def client_key(m, table=FIRST) -> str:
    """The registered client a module uses: by its client authentication, and
    the form_post clients (alias kagi-fp) for the Form Post plan."""
    key = table[m.variant.split(",")[0].strip()]
    return "fp-" + key if m.response_mode == "form_post" else key


def client_of(env: Env, m) -> "flows.Client":
    return env.clients[client_key(m)]


def no_name_in_id_token(ctx: Ctx, f: Flow):
    ctx.check("name" not in f.id_token.claims, "ID token contains 'name' although it was not requested there (EnsureIdTokenDoesNotContainName)", WARN)


# ---- 1, 32 and the variants: the happy flow ------------------------------------------

def _server(ctx: Ctx, env: Env, m, client=None):
    c = client or client_of(env, m)
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer(), entropy=True, expires_missing=WARN, check_unrequested=True)
    no_name_in_id_token(ctx, f)
    ctx.note(f"code, token, ID token ({f.id_token.header.get('alg')}, kid {f.id_token.header.get('kid', '')[:8]}...) and userinfo ok")


@cert("oidcc-server")
def oidcc_server(ctx, env, m):
    _server(ctx, env, m)


@module(COMPREHENSIVE, "oidcc-server", "client_secret_post")
def oidcc_server_post(ctx, env, m):
    _server(ctx, env, m)


@module(COMPREHENSIVE, "oidcc-server", "private_key_jwt")
def oidcc_server_pkjwt(ctx, env, m):
    _server(ctx, env, m)


def _alg_variant(alg):
    def fn(ctx, env, m):
        _server(ctx, env, m, env.clients[f"basic-{alg.lower()}"])
    fn.__name__ = f"oidcc_server_{alg.lower()}"
    return fn


# Not variants of the suite's plan (it runs RS256 only): the same module with
# clients registered for Kagi's other ID-token algorithms (--id-token-alg), so
# every signing key, kid and the at_hash hash (SHA-512 for EdDSA) is checked.
for _alg in ("ES256", "PS256", "EdDSA"):
    module(KAGI_VARIANTS, "oidcc-server", f"client_secret_basic, ID token {_alg}")(_alg_variant(_alg))


@cert("oidcc-server-client-secret-post", "client_secret_post")
def oidcc_server_client_secret_post(ctx, env, m):
    # The plan runs this module with a separately configured client_secret_post client.
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    happy(ctx, env, srv, env.browser(), c, env.customer())
    ctx.note("client_secret_post advertised and accepted")


# ---- 2: response_type missing ------------------------------------------------------

@cert("oidcc-response-type-missing")
def response_type_missing(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    params, state, nonce = auth_params(c, response_type=False)
    f = Flow(c, params, state, nonce)
    o = authorize(ctx, env, env.browser(), f, customer=env.customer(), disc=srv.disc)
    if o.kind == "page":
        if error_page(ctx, o.page, "error page for a missing response_type"):
            ctx.note(f"error page shown ({o.page.resp.status}: {o.page.h1.strip()!r}); suite: screenshot review")
        return
    cb = o.callback
    checks.check_err(ctx, cb, state, env.issuer, redirect_uri=c.redirect_uri)
    ctx.check(cb.params.get("error") in ("invalid_request", "unsupported_response_type"),
              f"error is {cb.params.get('error')!r}, expected invalid_request or unsupported_response_type")
    ctx.note(f"redirected with error={cb.params.get('error')}")


# ---- 5-7: userinfo ------------------------------------------------------------------

def _userinfo_checks(ctx: Ctx, r, f: Flow, content_type: bool = True):
    if content_type:
        ctx.check(r.media_type == "application/json", f"userinfo Content-Type is {r.header('content-type')!r}, not application/json (EnsureContentTypeJson)")
    try:
        info = r.json()
    except ValueError:
        info = None
    if not isinstance(info, dict):
        ctx.stop(f"userinfo body is not a JSON object: {r.text[:120]!r}")
    checks.check_userinfo_claims(ctx, info, f.id_token.claims.get("sub"))
    return info


def _userinfo_module(ctx, env, m, how):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer())
    r = userinfo(env, srv.disc, f.token_type, f.access_token, how)
    if how == "POST-body" and not 200 <= r.status < 300:
        ctx.warn(f"userinfo does not accept the access token in a POST body (HTTP {r.status}); optional (UserInfoEndpointWithAccessTokenInBodyNotSupported)")
        return
    ctx.check(r.status == 200, f"userinfo {how} answered HTTP {r.status}")
    info = _userinfo_checks(ctx, r, f)
    ctx.note(f"userinfo {how}: {sorted(info)}")


@cert("oidcc-userinfo-get")
def userinfo_get(ctx, env, m):
    _userinfo_module(ctx, env, m, "GET")


@cert("oidcc-userinfo-post-header")
def userinfo_post_header(ctx, env, m):
    _userinfo_module(ctx, env, m, "POST-header")


@cert("oidcc-userinfo-post-body")
def userinfo_post_body(ctx, env, m):
    _userinfo_module(ctx, env, m, "POST-body")


# ---- 8: no nonce ----------------------------------------------------------------------

@cert("oidcc-ensure-request-without-nonce-succeeds-for-code-flow")
def without_nonce(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    params, state, _ = auth_params(c, nonce_len=None)
    f = Flow(c, params, state, None)
    authorize(ctx, env, env.browser(), f, customer=env.customer(), disc=srv.disc)
    check_success_callback(ctx, env, f)
    ctx.note("code issued without nonce (the suite does not call the token endpoint here)")


# ---- 9-14, 35: returned claims ---------------------------------------------------------

def _scopes_supported_or_skip(ctx: Ctx, srv: Server, scope: str):
    """OIDCCCheckScopesSupportedContainScopeTest: skip when a scope is not advertised."""
    sup = srv.disc.get("scopes_supported")
    missing = [s for s in scope.split(" ") if not isinstance(sup, list) or s not in sup]
    if missing:
        ctx.skip(f"scopes_supported lacks {missing}; the suite skips this module")


def _returned_claims(ctx, env, m, scope, *, extra=(), reorder=None, email_checks=False, skip_check=True, essential_name=False):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    if skip_check:
        _scopes_supported_or_skip(ctx, srv, scope)
    f = happy(ctx, env, srv, env.browser(), c, env.customer(), scope=scope, extra=extra, reorder=reorder)
    if email_checks or essential_name:
        no_name_in_id_token(ctx, f)
    if email_checks:
        ctx.check("email" not in f.id_token.claims, "ID token contains 'email' for scope email in the code flow (EnsureIdTokenDoesNotContainEmailForScopeEmail)", WARN)
    r = userinfo(env, srv.disc, f.token_type, f.access_token)
    ctx.check(r.status == 200, f"userinfo answered HTTP {r.status}")
    info = _userinfo_checks(ctx, r, f, content_type=False)
    checks.check_scope_claims(ctx, info, f.param("scope"))
    if email_checks:
        ctx.check("name" not in info, "userinfo contains 'name' for scope email only (EnsureUserInfoDoesNotContainName)", WARN)
    if essential_name:
        ctx.check("name" in info, "userinfo lacks the essential 'name' claim (EnsureUserInfoContainsName)", WARN)
    ctx.note(f"userinfo claims {sorted(info)}")


@cert("oidcc-scope-profile")
def scope_profile(ctx, env, m):
    _returned_claims(ctx, env, m, "openid profile")


@cert("oidcc-scope-email")
def scope_email(ctx, env, m):
    _returned_claims(ctx, env, m, "openid email", email_checks=True)


@cert("oidcc-scope-address")
def scope_address(ctx, env, m):
    _returned_claims(ctx, env, m, "openid address")


@cert("oidcc-scope-phone")
def scope_phone(ctx, env, m):
    _returned_claims(ctx, env, m, "openid phone")


@cert("oidcc-scope-all")
def scope_all(ctx, env, m):
    _returned_claims(ctx, env, m, "openid email phone address profile")


def _reverse_scope_and_params(params):
    """ReverseScopeOrderInAuthorizationEndpointRequest + reverse-alphabetical parameter order."""
    out = [(k, " ".join(reversed(v.split(" "))) if k == "scope" else v) for k, v in params]
    return sorted(out, key=lambda kv: kv[0], reverse=True)


@cert("oidcc-alternate-happy-flow")
def alternate_happy_flow(ctx, env, m):
    _returned_claims(ctx, env, m, "openid email", reorder=_reverse_scope_and_params, email_checks=True)


@cert("oidcc-claims-essential")
def claims_essential(ctx, env, m):
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    _returned_claims(ctx, env, m, "openid", extra=[("claims", claims)], skip_check=False, essential_name=True)


# ---- 15, 16, 22, 24-26, 38: happy flows with one extra parameter -----------------------

def _happy_with(ctx, env, m, extra, note, pkce=False, method="GET"):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    happy(ctx, env, srv, env.browser(), c, env.customer(), extra=extra, pkce=pkce, method=method)
    ctx.note(note)


@cert("oidcc-display-page")
def display_page(ctx, env, m):
    _happy_with(ctx, env, m, [("display", "page")], "display=page accepted")


@cert("oidcc-display-popup")
def display_popup(ctx, env, m):
    _happy_with(ctx, env, m, [("display", "popup")], "display=popup accepted")


@cert("oidcc-ensure-request-with-unknown-parameter-succeeds")
def unknown_parameter(ctx, env, m):
    _happy_with(ctx, env, m, [("extra", "foobar")], "unknown parameter ignored")


@cert("oidcc-login-hint")
def login_hint(ctx, env, m):
    host = env.issuer.split("://", 1)[1].split(":")[0].split("/")[0]
    _happy_with(ctx, env, m, [("login_hint", f"buffy@{host}")], "login_hint accepted")


@cert("oidcc-ui-locales")
def ui_locales(ctx, env, m):
    _happy_with(ctx, env, m, [("ui_locales", "se")], "ui_locales=se accepted")


@cert("oidcc-claims-locales")
def claims_locales(ctx, env, m):
    _happy_with(ctx, env, m, [("claims_locales", "se")], "claims_locales=se accepted")


@cert("oidcc-ensure-request-with-valid-pkce-succeeds")
def valid_pkce(ctx, env, m):
    _happy_with(ctx, env, m, [], "S256 PKCE accepted", pkce=True)


@cert("oidcc-ensure-post-request-succeeds")
def post_request(ctx, env, m):
    _happy_with(ctx, env, m, [], "authorization request by POST accepted", method="POST")


@cert("oidcc-ensure-request-with-acr-values-succeeds")
def acr_values(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    sup = srv.disc.get("acr_values_supported")
    values = " ".join(sup) if isinstance(sup, list) and sup else "1 2"
    f = happy(ctx, env, srv, env.browser(), c, env.customer(), extra=[("acr_values", values)])
    acr = f.id_token.claims.get("acr")
    if acr is None:
        ctx.warn("acr_values were requested but the ID token has no acr (ValidateIdTokenACRClaimAgainstAcrValuesRequest)")
    elif not isinstance(acr, str):
        ctx.warn("acr in the ID token is not a string")
    else:
        ctx.check(acr in values.split(" "), f"acr {acr!r} is not one of the requested {values.split(' ')}", WARN)
    ctx.note(f"acr_values={values!r} -> acr {acr!r}")


# ---- 17-21, 23: two authorizations in one browser ---------------------------------------

def _second(ctx, env, srv, br, c, cust, extra, *, allow_login, label="second ID token"):
    params, state, nonce = auth_params(c, extra=extra)
    f = Flow(c, params, state, nonce)
    authorize(ctx, env, br, f, customer=cust, allow_login=allow_login, disc=srv.disc)
    return f


def _finish(ctx, env, srv, f, label="second ID token", expires_missing=INFO):
    check_success_callback(ctx, env, f)
    exchange(ctx, env, srv, f, label=label, expires_missing=expires_missing)
    r = userinfo(env, srv.disc, f.token_type, f.access_token)
    ctx.check(r.status == 200, f"userinfo with the second access token answered HTTP {r.status}")


def _same_auth(ctx, a: Flow, b: Flow):
    """CheckIdTokenAuthTimeClaimsSameIfPresent + CheckIdTokenSubConsistentForSecondAuthorization."""
    ta, tb = a.id_token.claims.get("auth_time"), b.id_token.claims.get("auth_time")
    if ta is not None and tb is not None:
        ctx.check(ta == tb, f"auth_time changed between the two authorizations ({ta} -> {tb}): the user was re-authenticated")
    ctx.check(a.id_token.claims.get("sub") == b.id_token.claims.get("sub"), "sub differs between the two authorizations")


@cert("oidcc-prompt-login", waits=1)
def prompt_login(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    br, cust = env.browser(), env.customer()
    a = happy(ctx, env, srv, br, c, cust)
    time.sleep(1)  # WaitForOneSecond
    b = _second(ctx, env, srv, br, c, cust, [("prompt", "login")], allow_login=True)
    ctx.check(b.outcome.login_shown, "prompt=login did not show the login page again (suite: screenshot review of the second login)")
    _finish(ctx, env, srv, b)
    ta, tb = a.id_token.claims.get("auth_time"), b.id_token.claims.get("auth_time")
    if ta is not None and tb is not None:
        ctx.check(tb > ta, f"second auth_time {tb} is not later than the first {ta} (CheckSecondIdTokenAuthTimeIsLaterIfPresent)")
    ctx.note(f"login page shown again; auth_time {ta} -> {tb}")


@cert("oidcc-prompt-none-not-logged-in")
def prompt_none_not_logged_in(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    params, state, nonce = auth_params(c, state_len=128, extra=[("prompt", "none")])
    f = Flow(c, params, state, nonce)
    o = authorize(ctx, env, env.browser(), f, customer=None, allow_login=False, disc=srv.disc)
    if o.kind != "callback":
        ctx.stop(f"prompt=none without a session showed a page ({o.seen}, HTTP {o.page.resp.status}) instead of redirecting with an error; the suite would hang")
    checks.check_err(ctx, o.callback, state, env.issuer, redirect_uri=c.redirect_uri)
    err = o.callback.params.get("error")
    ctx.check(err in UI_REQUIRED, f"error {err!r} is not one that requires a user interface (CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface)")
    ctx.note(f"error={err}, 128-char state echoed")


@cert("oidcc-prompt-none-logged-in")
def prompt_none_logged_in(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    br, cust = env.browser(), env.customer()
    a = happy(ctx, env, srv, br, c, cust)
    b = _second(ctx, env, srv, br, c, cust, [("prompt", "none")], allow_login=False)
    if b.outcome.kind != "callback":
        ctx.stop(f"prompt=none with a session stopped on a page {b.outcome.seen}")
    _finish(ctx, env, srv, b)
    _same_auth(ctx, a, b)
    ctx.note("silent re-authorization; same sub and auth_time")


@cert("oidcc-max-age-1", waits=2)
def max_age_1(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    br, cust = env.browser(), env.customer()
    a = happy(ctx, env, srv, br, c, cust)
    time.sleep(2)  # WaitFor2Seconds
    b = _second(ctx, env, srv, br, c, cust, [("max_age", "1")], allow_login=True)
    ctx.check(b.outcome.login_shown, "max_age=1 did not show the login page again (suite: screenshot review of the second login)")
    _finish(ctx, env, srv, b)
    ta, tb = a.id_token.claims.get("auth_time"), b.id_token.claims.get("auth_time")
    if tb is None:
        ctx.fail("second ID token lacks auth_time although max_age was sent (CheckIdTokenAuthTimeClaimPresentDueToMaxAge)")
    else:
        if ta is not None:
            ctx.check(tb > ta, f"second auth_time {tb} is not later than the first {ta}")
        ctx.check(tb >= time.time() - 301, f"auth_time {tb} is not recent (CheckIdTokenAuthTimeIsRecentIfPresent)")
    ctx.note(f"login page shown again; auth_time {ta} -> {tb}")


@cert("oidcc-max-age-10000")
def max_age_10000(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    br, cust = env.browser(), env.customer()
    a = happy(ctx, env, srv, br, c, cust, extra=[("max_age", "15000")])
    ctx.check("auth_time" in a.id_token.claims, "first ID token lacks auth_time although max_age was sent")
    b = _second(ctx, env, srv, br, c, cust, [("max_age", "10000")], allow_login=False)
    if b.outcome.kind != "callback":
        ctx.stop(f"max_age=10000 asked the user to log in again ({b.outcome.seen}); it must not")
    _finish(ctx, env, srv, b)
    ctx.check("auth_time" in b.id_token.claims, "second ID token lacks auth_time although max_age was sent")
    _same_auth(ctx, a, b)
    ctx.note("no re-login; same auth_time")


@cert("oidcc-id-token-hint")
def id_token_hint(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    br, cust = env.browser(), env.customer()
    a = happy(ctx, env, srv, br, c, cust)
    b = _second(ctx, env, srv, br, c, cust, [("prompt", "none"), ("id_token_hint", a.id_token.raw)], allow_login=False)
    if b.outcome.kind != "callback":
        ctx.stop(f"prompt=none with id_token_hint stopped on a page {b.outcome.seen}")
    _finish(ctx, env, srv, b)
    _same_auth(ctx, a, b)
    ctx.note("silent re-authorization with id_token_hint")


# ---- 28, 29: code reuse -----------------------------------------------------------------

def _codereuse(ctx, env, m, wait: float):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    f = happy(ctx, env, srv, env.browser(), c, env.customer())
    if wait:
        time.sleep(wait)  # WaitFor30Seconds
    r = flows.token_request(env, c, flows.code_request_pairs(f), srv.disc)
    if not wait and r.status == 200:
        ctx.warn("the authorization code was accepted a second time (ServerAllowedReusingAuthorizationCode)")
        return
    checks.check_terr(ctx, r, {"invalid_grant"})
    if wait:
        u = userinfo(env, srv.disc, f.token_type, f.access_token)
        ctx.check(400 <= u.status < 500, f"the access token from the reused code still works at userinfo (HTTP {u.status}); it should be revoked (RFC 6749 4.1.2)", WARN)
        ctx.note("reuse after 30 s: invalid_grant, and the first access token was revoked")
    else:
        ctx.note("reuse: 400 invalid_grant")


@cert("oidcc-codereuse")
def codereuse(ctx, env, m):
    _codereuse(ctx, env, m, 0)


@cert("oidcc-codereuse-30seconds", waits=30)
def codereuse_30(ctx, env, m):
    _codereuse(ctx, env, m, 30)


# ---- 30: unregistered redirect_uri -------------------------------------------------------

@cert("oidcc-ensure-registered-redirect-uri")
def registered_redirect_uri(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    bad = c.redirect_uri + "/" + flows.rand_alnum(10)  # <base>/callback/<10 random characters>
    params, state, nonce = auth_params(c, redirect_uri=bad)
    f = Flow(c, params, state, nonce)
    o = authorize(ctx, env, env.browser(), f, customer=env.customer(), disc=srv.disc)
    if o.kind == "callback":
        ctx.stop(f"the OP redirected to {o.callback.base!r} although the redirect_uri was not registered")
    if error_page(ctx, o.page, "error page for an unregistered redirect_uri"):
        ctx.note(f"error page shown, no redirect ({o.page.resp.status}: {o.page.h1.strip()!r}); suite: screenshot review")


# ---- 34, 36: request objects ---------------------------------------------------------------

def _skip_if_none_unsupported(ctx, srv):
    algs = srv.disc.get("request_object_signing_alg_values_supported")
    if isinstance(algs, list) and "none" not in algs:
        ctx.skip("request_object_signing_alg_values_supported lacks 'none'; the suite skips this module")


def _request_object_url(srv, params, outer_redirect=None):
    claims = dict(params)
    outer = {k: v for k, v in params if k in ("response_type", "client_id", "scope", "redirect_uri")}
    if outer_redirect:
        outer["redirect_uri"] = outer_redirect
    outer["request"] = jose.unsigned(claims)
    return [(k, outer[k]) for k in sorted(outer)]


@cert("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported")
def unsigned_request_object(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    _skip_if_none_unsupported(ctx, srv)
    params, state, nonce = auth_params(c)
    f = Flow(c, _request_object_url(srv, params), state, nonce)
    o = authorize(ctx, env, env.browser(), f, customer=env.customer(), disc=srv.disc)
    if o.kind == "callback" and o.callback.params.get("error") == "request_not_supported":
        # The suite skips here without judging the redirect (state is only inside
        # the object); Kagi's runner still checks where it went and that iss came.
        checks.check_redirect_target(ctx, o.callback, c.redirect_uri, "request_not_supported error response")
        checks.check_callback_common(ctx, o.callback, c.redirect_uri, env.issuer)
        ctx.skip("request_not_supported: the OP does not support request objects (permitted)")
    ctx.check(srv.disc.get("request_parameter_supported") is True, "request_parameter_supported is not true but a request object was processed", WARN)
    check_success_callback(ctx, env, f)
    exchange(ctx, env, srv, f)
    r = userinfo(env, srv.disc, f.token_type, f.access_token)
    ctx.check(r.status == 200, f"userinfo answered HTTP {r.status}")


@cert("oidcc-ensure-request-object-with-redirect-uri")
def request_object_with_redirect_uri(ctx, env, m):
    c = client_of(env, m)
    srv = configure(ctx, env, c)
    _skip_if_none_unsupported(ctx, srv)
    params, state, nonce = auth_params(c)
    invalid = c.redirect_uri + "_invalid"  # AddInvalidRedirectUriToAuthorizationRequest appends a path segment
    f = Flow(c, _request_object_url(srv, params, outer_redirect=invalid), state, nonce)
    o = authorize(ctx, env, env.browser(), f, customer=env.customer(), disc=srv.disc)
    if o.kind == "page":
        if error_page(ctx, o.page, "error page for an invalid outer redirect_uri"):
            ctx.note(f"error page shown, no redirect ({o.page.resp.status}: {o.page.h1.strip()!r}); suite: screenshot review")
        return
    cb = o.callback
    if cb.params.get("error") == "request_not_supported":
        ctx.stop("request_not_supported was redirected although the outer redirect_uri is not registered (EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri)")
    if cb.base != c.redirect_uri:
        ctx.stop(f"redirected to {cb.base!r}, which is not the request object's redirect_uri")
    f.params = params  # the request object's values are the ones to compare with
    check_success_callback(ctx, env, f)
    exchange(ctx, env, srv, f)


# ---- 37: refresh tokens ------------------------------------------------------------------

def _refresh_steps(ctx, env, srv, f: Flow, client, *, second: bool):
    """RefreshTokenRequestSteps."""
    pairs = [("grant_type", "refresh_token"), ("refresh_token", f.refresh_token)]
    if not second:
        pairs.append(("scope", f.param("scope")))
    time.sleep(1)  # WaitForOneSecond, so the new iat differs
    r = flows.token_request(env, client, pairs, srv.disc)
    who = "client 2" if second else "client 1"
    ctx.check(r.status == 200, f"{who} refresh: HTTP {r.status}: {r.text[:160]!r}")
    ctx.check(r.media_type == "application/json", f"{who} refresh: Content-Type {r.header('content-type')!r}")
    cc = [p.strip() for v in r.header_all("cache-control") for p in v.split(",")]
    ctx.check("no-store" in cc, f"{who} refresh: Cache-Control lacks no-store (CheckTokenEndpointCacheHeaders)")
    try:
        body = r.json()
    except ValueError:
        ctx.stop(f"{who} refresh response is not JSON")
    if not isinstance(body, dict) or "error" in body:
        ctx.stop(f"{who} refresh answered an error: {body}")
    at = body.get("access_token")
    if not isinstance(at, str) or not at:
        ctx.stop(f"{who} refresh response has no access_token")
    ctx.check(isinstance(body.get("token_type"), str) and body["token_type"].lower() == "bearer", f"{who} refresh: token_type {body.get('token_type')!r} is not bearer")
    checks.check_entropy(ctx, f"{who} refreshed access token", at)
    ctx.check(checks.vschar(at), f"{who} refreshed access token has characters outside %x20-7E")
    checks.check_expires_in(ctx, body, WARN)
    new_rt = body.get("refresh_token")
    if new_rt is not None:
        checks.check_entropy(ctx, f"{who} new refresh token", new_rt)
        f.refresh_token = new_rt
    if "id_token" in body:
        new = checks.check_id_token(ctx, body["id_token"], client_id=client.client_id, issuer=env.issuer, jwks=srv.jwks, nonce=checks.ANY,
                                    access_token=at, expected_alg=client.id_token_alg, label=f"{who} refreshed ID token")
        compare_refreshed(ctx, f.id_token.claims, new.claims, who)
    u = userinfo(env, srv.disc, body.get("token_type", "Bearer"), at)
    ctx.check(u.status == 200, f"{who}: userinfo with the refreshed access token answered HTTP {u.status}")
    return body


def compare_refreshed(ctx, a: dict, b: dict, who: str):
    """CompareIdTokenClaims."""
    for k in ("iss", "sub"):
        ctx.check(k in a and k in b and a[k] == b[k], f"{who}: refreshed ID token {k} {b.get(k)!r} differs from {a.get(k)!r}")
    ctx.check(a.get("iat") != b.get("iat"), f"{who}: refreshed ID token has the same iat as the original")
    aud_a = set(a["aud"]) if isinstance(a.get("aud"), list) else {a.get("aud")}
    aud_b = set(b["aud"]) if isinstance(b.get("aud"), list) else {b.get("aud")}
    ctx.check(aud_a == aud_b, f"{who}: refreshed ID token aud differs")
    if "auth_time" in b:
        ctx.check(b["auth_time"] == a.get("auth_time"), f"{who}: refreshed ID token auth_time {b['auth_time']} differs from {a.get('auth_time')}")
    if "azp" not in a:
        ctx.check("azp" not in b, f"{who}: refreshed ID token has azp although the original had none")
    else:
        ctx.check(a.get("azp") == b.get("azp"), f"{who}: refreshed ID token azp differs")


def _refresh_module(ctx, env, m):
    c1 = env.clients[client_key(m, FIRST)]
    c2 = env.clients[client_key(m, SECOND)]
    srv = configure(ctx, env, c1)
    configure(ctx, env, c2)
    sup = srv.disc.get("scopes_supported") or []
    offline = "offline_access" in sup
    scope = "openid offline_access" if offline else "openid"
    extra = [("prompt", "consent")] if offline else []
    br, cust = env.browser(), env.customer()
    flows_done = []
    for second, client in ((False, c1), (True, c2)):
        params, state, nonce = auth_params(client, scope=scope, nonce_len=43 if second else 10, extra=extra)
        f = Flow(client, params, state, nonce)
        authorize(ctx, env, br, f, customer=cust, allow_consent=True, disc=srv.disc)
        check_success_callback(ctx, env, f)
        exchange(ctx, env, srv, f, label="client 2 ID token" if second else "ID token")
        if not f.refresh_token:
            gts = srv.disc.get("grant_types_supported") or []
            ctx.check("refresh_token" not in gts, "grant_types_supported lists refresh_token but none was issued", WARN)
            ctx.skip("no refresh token issued")
        gts = srv.disc.get("grant_types_supported")
        if isinstance(gts, list):
            ctx.check("refresh_token" in gts, "a refresh token was issued but grant_types_supported lacks refresh_token", WARN)
        ctx.check(checks.vschar(f.refresh_token), "refresh token has characters outside %x20-7E")
        _refresh_steps(ctx, env, srv, f, client, second=second)
        flows_done.append(f)
    # RefreshTokenRequestExpectingErrorSteps: client 2's refresh token with client 1's credentials
    pairs = [("grant_type", "refresh_token"), ("refresh_token", flows_done[1].refresh_token), ("scope", scope)]
    r = flows.token_request(env, c1, pairs, srv.disc)
    checks.check_terr(ctx, r, {"invalid_grant"}, where="client 2's refresh token used by client 1")
    ctx.note("both clients refreshed; ID token claims consistent; cross-client use refused")


@cert("oidcc-refresh-token", waits=2)
def refresh_token(ctx, env, m):
    _refresh_module(ctx, env, m)


@module(COMPREHENSIVE, "oidcc-refresh-token", "private_key_jwt", waits=2)
def refresh_token_pkjwt(ctx, env, m):
    _refresh_module(ctx, env, m)
