"""What the suite does with a browser and a client: build authorization
requests, drive the browser through Kagi's hosted pages (the "user" logs in
through the forms, reading the email code from the SMTP listener), redeem
codes, call userinfo, and the HAPPY bundle of checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html.parser
import json
import re
import secrets
import string
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from . import checks, jose, web
from .checks import FAIL, INFO, WARN, Callback, Ctx
from .env import Backchannel, Client, Customer, Kagi, Mailbox, code_from_mail

ALNUM = string.ascii_letters + string.digits


def rand_alnum(n: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def suite_state(length: int = 10) -> str:
    """CreateRandomStateValue: alphanumerics, or (longer than 10) alphanumerics + '-._~'."""
    return rand_alnum(length - 4) + "-._~" if length > 10 else rand_alnum(length)


def suite_nonce(length: int = 10) -> str:
    return rand_alnum(length - 4) + "-._~" if length > 10 else rand_alnum(length)


def end_session_state() -> str:
    """CreateRandomEndSessionState: 50 letters, 10 digits, 30 VSCHAR punctuation
    (with space, '+' and ';' replaced by '~')."""
    punct = [chr(c) for r in ((0x20, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)) for c in range(r[0], r[1] + 1)]
    s = "".join(secrets.choice(string.ascii_letters) for _ in range(50)) + "".join(secrets.choice(string.digits) for _ in range(10)) + "".join(secrets.choice(punct) for _ in range(30))
    return s.replace("+", "~").replace(" ", "~").replace(";", "~")


def totp_code(secret_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP with HMAC-SHA1."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    num = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(num).zfill(digits)


# ---- the run-wide environment ------------------------------------------------------

class Env:
    """Everything a module needs: the server, its metadata, the registered clients."""

    RP = "https://rp.conformance.invalid/test/a"

    def __init__(self, kagi: Kagi, mailbox: Mailbox, backchannel: Backchannel):
        self.kagi = kagi
        self.http = kagi.http
        self.issuer = kagi.issuer
        self.discovery_url = self.issuer + "/.well-known/openid-configuration"
        self.mailbox = mailbox
        self.backchannel = backchannel
        self.clients: dict[str, Client] = {}
        self.browser_kind = "chromium"
        self._totp_lock = threading.Lock()

    def customer(self, totp: bool = False) -> Customer:
        """A fresh test customer for one module (Kagi limits email codes per customer and hour)."""
        return self.kagi.add_customer(totp)

    def base(self, alias: str) -> str:
        return f"{self.RP}/{alias}"

    def browser(self) -> web.Browser:
        return web.Browser(self.http, self.issuer, form_action_on_redirects=self.browser_kind == "chromium")

    def get_json(self, ctx: Ctx, url: str, what: str):
        r = self.http.request("GET", url, {"Accept": "application/json"})
        try:
            return r, r.json()
        except ValueError:
            ctx.stop(f"{what} at {url} is not JSON (HTTP {r.status})")


# ---- hosted pages -------------------------------------------------------------------

class Page(html.parser.HTMLParser):
    """The parts of an HTML page the runner reads: forms, ids, headings, text."""

    def __init__(self, resp: web.Response):
        super().__init__(convert_charrefs=True)
        self.resp = resp
        self.forms: list[dict] = []
        self.ids: set[str] = set()
        self.h1 = ""
        self._in_h1 = False
        self._form: dict | None = None
        self.text_parts: list[str] = []
        self.meta_refresh = False
        self.refresh_url: str | None = None
        self.messages: list[str] = []  # text of each class="message" element (templates/message.html)
        self._msg: list | None = None  # [tag, depth, parts] while inside one
        self.is_html = resp.media_type == "text/html"
        if self.is_html:
            self.feed(resp.text)

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if self._msg is not None and tag == self._msg[0]:
            self._msg[1] += 1
        elif self._msg is None and "message" in a.get("class", "").split() and "hidden" not in a:
            self._msg = [tag, 1, []]
        if tag == "h1":
            self._in_h1 = True
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.meta_refresh = True
            m = re.match(r"\s*\d+\s*(?:[;,]\s*(?:url\s*=\s*)?['\"]?([^'\"]+)['\"]?)?", a.get("content", ""), re.I)
            if m and m.group(1):
                self.refresh_url = urllib.parse.urljoin(self.resp.url, m.group(1).strip())
        elif tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "inputs": [], "buttons": [], "attrs": a}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            self._form["inputs"].append(a)
        elif tag == "button" and self._form is not None:
            self._form["buttons"].append(a)

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False
        elif tag == "form":
            self._form = None
        if self._msg is not None and tag == self._msg[0]:
            self._msg[1] -= 1
            if self._msg[1] == 0:
                self.messages.append(" ".join(self._msg[2]))
                self._msg = None

    def handle_data(self, data):
        if self._in_h1:
            self.h1 += data
        if data.strip():
            self.text_parts.append(data.strip())
            if self._msg is not None:
                self._msg[2].append(data.strip())

    @property
    def text(self) -> str:
        return " ".join(self.text_parts)

    @property
    def message(self) -> str:
        """What the page says in its message element(s), if any."""
        return " ".join(m for m in self.messages if m)

    def form(self, action: str) -> dict | None:
        for f in self.forms:
            if urllib.parse.urlsplit(f["action"]).path == action:
                return f
        return None

    @staticmethod
    def hidden(f: dict) -> list[tuple[str, str]]:
        return [(i["name"], i.get("value", "")) for i in f["inputs"] if i.get("type") == "hidden" and i.get("name")]

    def field(self, action: str, name: str) -> str | None:
        f = self.form(action)
        if f is None:
            return None
        for i in f["inputs"]:
            if i.get("name") == name:
                return i.get("value", "")
        return None

    def kind(self) -> str:
        if not self.is_html:
            return "non-html"
        if self.form("/login") is not None and "customer_code" in [i.get("name") for i in self.form("/login")["inputs"]]:
            return "login"
        if self.form("/authorize/consent") is not None:
            return "consent"
        if "passkey-register" in self.ids and self.form("/authorize/decline") is not None:
            return "passkey_offer"
        if "logout-confirm" in self.ids:
            return "logout_confirm"
        for f in self.forms:
            if f["attrs"].get("data-autosubmit") == "true":
                return "form_post"
        return "page"


# Pages that are never an error page or a logged-out page, whatever their status.
NOT_A_RESULT_PAGE = {"login": "the login page", "consent": "the consent page", "passkey_offer": "the passkey-registration offer",
                     "logout_confirm": "the logout confirmation", "form_post": "an auto-posting form", "non-html": "a response that is not HTML"}


def _result_page(ctx: Ctx, page: Page, what: str, status_class: int, status_text: str) -> bool:
    """A page of Kagi's message template (templates/message.html) that says
    something: a heading, a non-empty class="message" element, the expected
    status, and none of the interactive pages; it neither refreshes nor auto-posts."""
    r = page.resp
    kind = page.kind()
    if not ctx.check(kind not in NOT_A_RESULT_PAGE, f"{what}: got {NOT_A_RESULT_PAGE.get(kind)} (HTTP {r.status}, "
                                                    f"{r.header('content-type')!r}, {page.h1.strip()!r}), which is not {status_text}"):
        return False
    ok = ctx.check(r.status // 100 == status_class, f"{what}: HTTP {r.status}; {status_text} answers {status_class}xx")
    ok &= ctx.check(page.h1.strip() != "", f"{what}: the page has no heading")
    ok &= ctx.check(page.message.strip() != "", f"{what}: no message element (class=\"message\", templates/message.html) says what happened: "
                                                f"{page.text[:120]!r}")
    ok &= ctx.check(not page.meta_refresh, f"{what}: the page refreshes to another URL")
    return ok


def error_page(ctx: Ctx, page: Page, what: str) -> bool:
    """The page the suite's screenshot modules expect instead of a redirect: a
    4xx response whose page says what went wrong. A login, consent, passkey-offer
    or confirmation page is not one, whatever it shows."""
    return _result_page(ctx, page, what, 4, "an error page")


def logged_out_page(ctx: Ctx, page: Page, what: str) -> bool:
    """The 'you are logged out' page (ExpectSuccessfulLogoutPage): a 2xx message page."""
    return _result_page(ctx, page, what, 2, "a logged-out page")


@dataclass
class Outcome:
    """Where the browser ended: a redirect to the client, or a page at the OP."""

    kind: str  # "callback" | "page"
    callback: Callback | None = None
    page: Page | None = None
    seen: list[str] = field(default_factory=list)  # hosted pages passed through

    @property
    def login_shown(self) -> bool:
        return "login" in self.seen


def check_form_redirect(ctx: Ctx, br: web.Browser, url: str):
    """A redirect hop of a form submission: Chrome and Safari refuse it when the
    form's page has a CSP form-action that does not allow the target."""
    why = br.form_redirect_blocked(url)
    if why:
        p = urllib.parse.urlsplit(url)
        ctx.fail_once(f"CSP {why}: Chrome and Safari block the form's redirect to {p.scheme}://{p.netloc}, "
                      f"so a real browser never brings the response to the client (w3c/webappsec-csp#8)")


def login(ctx: Ctx, env: Env, br: web.Browser, page: Page, customer: Customer) -> web.Response:
    """The user logs in on the hosted pages: password, then email code or TOTP."""
    op = env.issuer
    csrf = page.field("/login", "csrf")
    return_to = page.field("/login", "return_to") or ""
    if not csrf:
        ctx.stop("login page has no csrf field")
    r = br.submit(page.resp, op + "/login", [("csrf", csrf), ("customer_code", customer.code), ("password", customer.password), ("return_to", return_to)])
    loc = r.location or ""
    if r.status != 303 or urllib.parse.urlsplit(loc).path not in ("/login/email", "/login/totp"):
        ctx.stop(f"password step: expected 303 to /login/email or /login/totp, got {r.status} {loc!r}")
    path = urllib.parse.urlsplit(loc).path
    if path == "/login/totp":
        if customer.totp_secret is None:
            ctx.stop("Kagi asked for a TOTP code, but the customer has none enrolled")
        check_form_redirect(ctx, br, loc)
        p = Page(br.get(loc))
        br.navigation_done()
        csrf = p.field("/login/totp", "csrf")
        with env._totp_lock:
            code = totp_code(customer.totp_secret)
            r = br.submit(p.resp, op + "/login/totp", [("csrf", csrf or ""), ("code", code)])
        if r.status != 303:
            ctx.stop(f"TOTP step: expected 303, got {r.status}: {Page(r).text[:200]!r}")
        return r
    if customer.totp_secret is not None:
        ctx.stop("Kagi asked for an email code from a customer with TOTP enrolled")
    check_form_redirect(ctx, br, loc)
    p = Page(br.get(loc))
    br.navigation_done()
    csrf = p.field("/login/email", "csrf")
    seen = env.mailbox.count(customer.email)
    r = br.submit(p.resp, op + "/login/email", [("csrf", csrf or ""), ("email_index", "0")])
    if r.status != 303 or urllib.parse.urlsplit(r.location or "").path != "/login/code":
        ctx.stop(f"email step: expected 303 to /login/code, got {r.status} {r.location!r}: {Page(r).text[:200]!r}")
    raw = env.mailbox.wait_new(customer.email, seen)
    if raw is None:
        ctx.stop(f"no email code reached the SMTP listener for {customer.email}")
    code = code_from_mail(raw)
    if code is None:
        ctx.stop("the email has no 6-digit code")
    check_form_redirect(ctx, br, r.location)
    p = Page(br.get(r.location))
    br.navigation_done()
    csrf = p.field("/login/code", "csrf")
    r = br.submit(p.resp, op + "/login/code", [("csrf", csrf or ""), ("code", code)])
    if r.status != 303:
        ctx.stop(f"code step: expected 303, got {r.status}: {Page(r).text[:200]!r}")
    return r


_NOT_SUBMITTED = {"submit", "button", "image", "reset", "file"}


def auto_submit(ctx: Ctx, page: Page) -> Callback:
    """What a browser sends when the page's auto-submitting form is submitted
    (OAuth 2.0 Form Post Response Mode 2): the form's method and enctype decide
    the request; the page's CSP form-action must allow the action, path included
    (CSP 3 matches paths on the form's own target, not after redirects)."""
    f = next(f for f in page.forms if f["attrs"].get("data-autosubmit") == "true")
    action = urllib.parse.urljoin(page.resp.url, f["action"] or page.resp.url)
    sources = web.form_action_sources(page.resp)
    if sources is not None and not web.source_allows(sources, action, page.resp.url, match_path=True):
        ctx.fail_once(f"CSP form-action {' '.join(sources)} of the form_post page does not allow its own action {action!r}: "
                      f"a browser refuses to submit the response to the client")
    fields = [(i["name"], i.get("value", "")) for i in f["inputs"] if i.get("name") and i.get("type", "text").lower() not in _NOT_SUBMITTED]
    if f["method"] != "post":
        # A GET form replaces the action's query with the fields (HTML "mutate action URL").
        p = urllib.parse.urlsplit(action)
        return Callback(urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, urllib.parse.urlencode(fields), "")))
    enctype = f["attrs"].get("enctype", "").strip().lower()
    if enctype not in ("multipart/form-data", "text/plain"):
        enctype = checks.FORM_CONTENT_TYPE  # the default, also for an invalid value
    return Callback(action, "POST", fields, content_type=enctype)


def drive(ctx: Ctx, env: Env, br: web.Browser, resp: web.Response, *, customer: Customer | None,
          allow_login: bool = True, allow_consent: bool = False, cross_site: bool = False) -> Outcome:
    """Follow the browser from `resp` until it leaves the OP (a redirect to the
    client) or stops on a page. The user logs in / consents when allowed.
    `cross_site`: `resp` answers a navigation that the relying party started,
    so its redirect hops are cross-site too (SameSite cookies)."""
    seen: list[str] = []
    xs = cross_site
    for _ in range(25):
        if resp.status in (301, 302, 303, 307, 308):
            loc = resp.location
            if loc is None:
                ctx.stop(f"HTTP {resp.status} without Location")
            check_form_redirect(ctx, br, loc)
            if not br._is_op(loc):
                br.navigation_done()
                return Outcome("callback", callback=Callback(loc), seen=seen)
            resp = br.get(loc, cross_site=xs)
            continue
        br.navigation_done()
        xs = False  # whatever the user does next starts on an OP page
        page = Page(resp)
        kind = page.kind()
        if kind == "login" and resp.status == 200:
            seen.append("login")
            if not allow_login or customer is None:
                return Outcome("page", page=page, seen=seen)
            resp = login(ctx, env, br, page, customer)
            continue
        if kind == "consent" and resp.status == 200:
            seen.append("consent")
            if not allow_consent:
                return Outcome("page", page=page, seen=seen)
            f = page.form("/authorize/consent")
            resp = br.submit(page.resp, env.issuer + "/authorize/consent", Page.hidden(f) + [("decision", "accept")])
            continue
        if page.refresh_url:
            # <meta http-equiv=refresh>: the browser navigates on its own (not a form submission)
            seen.append("refresh")
            if not br._is_op(page.refresh_url):
                return Outcome("callback", callback=Callback(page.refresh_url), seen=seen)
            resp = br.get(page.refresh_url)
            continue
        if kind == "form_post":
            return Outcome("callback", callback=auto_submit(ctx, page), seen=seen)
        seen.append(kind)
        return Outcome("page", page=page, seen=seen)
    ctx.stop("too many redirects inside the OP")


# ---- client side ------------------------------------------------------------------------

@dataclass
class Flow:
    """One authorization: what was sent and what came back."""

    client: Client
    params: list[tuple[str, str]]
    state: str | None
    nonce: str | None
    verifier: str | None = None
    outcome: Outcome | None = None
    code: str | None = None
    token_resp: web.Response | None = None
    token_body: dict | None = None
    id_token: jose.Jwt | None = None
    access_token: str | None = None
    token_type: str | None = None
    refresh_token: str | None = None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)

    @property
    def callback(self) -> Callback | None:
        return self.outcome.callback if self.outcome else None


def auth_params(client: Client, *, scope: str = "openid", state_len: int | None = 10, nonce_len: int | None = 10,
                response_type: bool = True, redirect_uri: str | None = None, extra=()) -> tuple[list, str | None, str | None]:
    """CreateAuthorizationEndpointRequestFromClientInformation + state + nonce + response_type."""
    state = suite_state(state_len) if state_len else None
    nonce = suite_nonce(nonce_len) if nonce_len else None
    p = [("client_id", client.client_id), ("redirect_uri", redirect_uri or client.redirect_uri), ("scope", scope)]
    if state is not None:
        p.append(("state", state))
    if nonce is not None:
        p.append(("nonce", nonce))
    if response_type:
        p.append(("response_type", "code"))
    if client.response_mode != "default":
        p.append(("response_mode", client.response_mode))  # SetAuthorizationEndpointRequestResponseModeToFormPost
    p.extend(extra)
    return p, state, nonce


def pkce_pair() -> tuple[str, str]:
    """A 128-char verifier over [A-Za-z0-9-._~] and its S256 challenge."""
    alphabet = ALNUM + "-._~"
    verifier = "".join(secrets.choice(alphabet) for _ in range(124)) + "-._~"
    challenge = jose.b64u(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge


def authorize(ctx: Ctx, env: Env, br: web.Browser, flow: Flow, *, customer: Customer | None, method: str = "GET",
              allow_login: bool = True, allow_consent: bool = False, disc: dict) -> Outcome:
    ep = disc["authorization_endpoint"]
    br.navigation_done()  # a new navigation, started by the relying party's page
    if method == "POST":
        resp = br.post(ep, flow.params, cross_site=True)
    else:
        resp = br.get(web.with_query(ep, flow.params), cross_site=True)
    flow.outcome = drive(ctx, env, br, resp, customer=customer, allow_login=allow_login, allow_consent=allow_consent, cross_site=True)
    o = flow.outcome
    if o.kind == "callback":
        o.callback = checks.receive(ctx, o.callback, form_post=flow.client.response_mode == "form_post")
    ctx.info(f"authorization ({method}, {[k for k, _ in flow.params]}): pages {o.seen} -> "
             + (f"redirect {sorted(o.callback.params)}" if o.kind == "callback" else f"page {o.page.resp.status} {o.page.h1.strip()!r}"))
    return o


def client_auth(env: Env, client: Client, pairs: list, headers: dict, token_endpoint: str, as_client: Client | None = None):
    """Adds the client's authentication to a token request, as the suite's sequences do."""
    c = as_client or client
    if c.auth_method == "client_secret_basic":
        cred = urllib.parse.quote_plus(c.client_id) + ":" + urllib.parse.quote_plus(c.secret or "")
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    elif c.auth_method == "client_secret_post":
        pairs += [("client_id", c.client_id), ("client_secret", c.secret or "")]
    elif c.auth_method == "private_key_jwt":
        now = int(time.time())
        claims = {"iss": c.client_id, "sub": c.client_id, "aud": token_endpoint, "jti": rand_alnum(20), "iat": now, "nbf": now, "exp": now + 60}
        assertion = jose.sign(c.key_alg, c.private_key, {"kid": c.kid, "typ": "JWT"}, claims)
        pairs += [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion)]
    elif c.auth_method == "none":
        pairs += [("client_id", c.client_id)]


def token_request(env: Env, client: Client, pairs: list, disc: dict, as_client: Client | None = None) -> web.Response:
    pairs = list(pairs)
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    client_auth(env, client, pairs, headers, disc["token_endpoint"], as_client)
    return env.http.request("POST", disc["token_endpoint"], headers, web.form(pairs))


def code_request_pairs(flow: Flow) -> list:
    pairs = [("grant_type", "authorization_code"), ("code", flow.code or ""), ("redirect_uri", flow.param("redirect_uri") or flow.client.redirect_uri)]
    if flow.verifier:
        pairs.append(("code_verifier", flow.verifier))
    return pairs


def userinfo(env: Env, disc: dict, token_type: str, access_token: str, how: str = "GET") -> web.Response:
    ep = disc["userinfo_endpoint"]
    if how == "GET":
        return env.http.request("GET", ep, {"Authorization": f"{token_type} {access_token}", "Accept": "application/json"})
    if how == "POST-header":
        return env.http.request("POST", ep, {"Authorization": f"{token_type} {access_token}", "Accept": "application/json",
                                             "Content-Type": "application/x-www-form-urlencoded"}, b"")
    return env.http.request("POST", ep, {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
                            web.form([("access_token", access_token)]))


# ---- the configure step and the HAPPY bundle --------------------------------------------

@dataclass
class Server:
    disc: dict
    jwks: dict


def configure(ctx: Ctx, env: Env, client: Client | None) -> Server:
    """AbstractOIDCCServerTest.configure: discovery, JWKS checks, client method, userinfo."""
    r, disc = env.get_json(ctx, env.discovery_url, "discovery document")
    if not isinstance(disc, dict):
        ctx.stop("discovery document is not a JSON object (GetDynamicServerConfiguration)")
    for k in ("issuer", "authorization_endpoint", "token_endpoint"):
        if not checks.is_url(disc.get(k), https=False):
            ctx.stop(f"discovery {k} is missing or not a URL (CheckServerConfiguration)")
    if not isinstance(disc.get("jwks_uri"), str):
        ctx.stop("discovery has no jwks_uri")
    _, jwks = env.get_json(ctx, disc["jwks_uri"], "JWKS")
    checks.check_jwks(ctx, jwks, flow_module=True)
    if client is not None:
        methods = disc.get("token_endpoint_auth_methods_supported")
        m = client.auth_method
        if m == "client_secret_basic":
            ctx.check(methods is None or m in methods, "token_endpoint_auth_methods_supported lacks client_secret_basic")
        elif m in ("client_secret_post", "private_key_jwt", "none"):
            ctx.check(isinstance(methods, list) and m in methods, f"token_endpoint_auth_methods_supported lacks {m} (EnsureServerConfigurationSupports...)")
    if not checks.is_url(disc.get("userinfo_endpoint"), https=False):
        ctx.stop("discovery has no userinfo_endpoint (SetProtectedResourceUrlToUserInfoEndpoint)")
    return Server(disc, jwks)


def check_success_callback(ctx: Ctx, env: Env, flow: Flow, *, entropy: bool = False):
    """onAuthorizationCallbackResponse for a success (code flow)."""
    o = flow.outcome
    if o is None or o.kind != "callback":
        what = f"{o.page.resp.status} page {o.page.h1.strip()!r}: {o.page.text[:160]!r}" if o and o.page else "nothing"
        ctx.stop(f"expected a redirect to the client, the browser stayed at the OP on a {what}")
    cb = o.callback
    redirect_uri = flow.param("redirect_uri") or flow.client.redirect_uri
    checks.check_redirect_target(ctx, cb, redirect_uri)
    checks.check_callback_common(ctx, cb, redirect_uri, env.issuer)
    if "error" in cb.params:
        ctx.stop(f"authorization endpoint returned error={cb.params['error']!r} ({cb.params.get('error_description')!r}) (CheckIfAuthorizationEndpointError)")
    checks.check_state(ctx, cb, flow.state)
    ctx.check("code" not in cb.fragment and "state" not in cb.fragment, "code or state in the fragment")
    code = cb.params.get("code")
    if not code:
        ctx.stop("authorization response has no code")
    flow.code = code
    if entropy:
        checks.check_entropy(ctx, "authorization code", code)


def exchange(ctx: Ctx, env: Env, srv: Server, flow: Flow, *, expires_missing: str = INFO, check_unrequested: bool = False,
             acr_request: list[str] | None = None, label: str = "ID token") -> Flow:
    """requestAuthorizationCode: token request and every check of the response."""
    r = token_request(env, flow.client, code_request_pairs(flow), srv.disc)
    flow.token_resp = r
    if r.status != 200:
        ctx.stop(f"token endpoint answered HTTP {r.status}: {r.text[:200]!r} (CheckTokenEndpointHttpStatus200)")
    try:
        body = r.json()
    except ValueError:
        ctx.stop("token response is not JSON")
    if not isinstance(body, dict) or "error" in body:
        ctx.stop(f"token response is an error: {body!r}")
    flow.token_body = body
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        ctx.stop("token response has no access_token (CheckForAccessTokenValue)")
    if not isinstance(body.get("token_type"), str) or not body["token_type"]:
        ctx.stop("token response has no token_type")
    flow.access_token, flow.token_type = body["access_token"], body["token_type"]
    flow.refresh_token = body.get("refresh_token")
    checks.check_expires_in(ctx, body, expires_missing)
    jwt = checks.check_id_token(ctx, body.get("id_token"), client_id=flow.client.client_id, issuer=env.issuer, jwks=srv.jwks,
                                nonce=flow.nonce, acr_request=acr_request, access_token=flow.access_token, code=flow.code,
                                expected_alg=flow.client.id_token_alg, label=label)
    flow.id_token = jwt
    if check_unrequested:
        checks.check_no_unrequested_claims(ctx, jwt.claims, flow.param("scope") or "openid", label)
    return flow


def happy(ctx: Ctx, env: Env, srv: Server, br: web.Browser, client: Client, customer: Customer, *, scope: str = "openid",
          extra=(), state_len: int = 10, nonce_len: int | None = 10, method: str = "GET", allow_consent: bool = False,
          allow_login: bool = True, entropy: bool = False, pkce: bool = False, reorder=None, userinfo_call: bool = True,
          expires_missing: str = INFO, check_unrequested: bool = False, acr_request=None, label="ID token") -> Flow:
    """The HAPPY bundle: authorization, token, every ID-token check, userinfo 200."""
    params, state, nonce = auth_params(client, scope=scope, state_len=state_len, nonce_len=nonce_len, extra=extra)
    flow = Flow(client, params, state, nonce)
    if pkce:
        flow.verifier, challenge = pkce_pair()
        params += [("code_challenge", challenge), ("code_challenge_method", "S256")]
    if reorder:
        flow.params = reorder(params)
    authorize(ctx, env, br, flow, customer=customer, method=method, allow_login=allow_login, allow_consent=allow_consent, disc=srv.disc)
    check_success_callback(ctx, env, flow, entropy=entropy)
    exchange(ctx, env, srv, flow, expires_missing=expires_missing, check_unrequested=check_unrequested, acr_request=acr_request, label=label)
    if userinfo_call:
        r = userinfo(env, srv.disc, flow.token_type, flow.access_token)
        ctx.check(r.status == 200, f"userinfo with the access token answered HTTP {r.status} (EnsureHttpStatusCodeIs200)")
    return flow
