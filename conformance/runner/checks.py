"""The suite's conditions, re-expressed: each check records a finding at the
severity the suite gives it (the suite's condition classes, read from its source;
the suite class a check mirrors is named in its message where useful).

A module's verdict is the worst finding: FAIL > WARNING > PASS. `stop` is a
FAIL that also ends the module (the suite's callAndStopOnFailure); `skip`
ends it as SKIPPED (fireTestSkipped).
"""

from __future__ import annotations

import math
import re
import time
import urllib.parse
from collections import Counter

from . import jose

FAIL, WARN, INFO = "FAIL", "WARNING", "INFO"
ANY = object()  # "do not check" (e.g. the nonce of a refreshed ID token)


class Stop(Exception):
    """The module cannot go on (a FAIL was recorded)."""


class Skip(Exception):
    """The module declares itself skipped."""


class Ctx:
    """Findings of one module run."""

    def __init__(self, module: str, variant: str):
        self.module = module
        self.variant = variant
        self.findings: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.skipped: str | None = None

    def fail(self, msg: str):
        self.findings.append((FAIL, msg))

    def fail_once(self, msg: str):
        if (FAIL, msg) not in self.findings:
            self.fail(msg)

    def warn(self, msg: str):
        self.findings.append((WARN, msg))

    def info(self, msg: str):
        self.findings.append((INFO, msg))

    def note(self, msg: str):
        """A positive remark shown in the table (e.g. what a review module saw)."""
        self.notes.append(msg)

    def stop(self, msg: str):
        self.fail(msg)
        raise Stop(msg)

    def skip(self, msg: str):
        self.skipped = msg
        raise Skip(msg)

    def check(self, cond: bool, msg: str, sev: str = FAIL) -> bool:
        if not cond:
            {FAIL: self.fail, WARN: self.warn, INFO: self.info}[sev](msg)
        return bool(cond)

    @property
    def verdict(self) -> str:
        sevs = {s for s, _ in self.findings}
        if FAIL in sevs:
            return "FAIL"
        if self.skipped is not None:
            return "SKIPPED"
        if WARN in sevs:
            return "WARNING"
        return "PASS"

    def reason(self) -> str:
        if self.verdict == "FAIL":
            return "; ".join(m for s, m in self.findings if s == FAIL)
        if self.verdict == "SKIPPED":
            parts = [self.skipped] + [m for s, m in self.findings if s == WARN]
            return "; ".join(p for p in parts if p)
        if self.verdict == "WARNING":
            return "; ".join(m for s, m in self.findings if s == WARN)
        return "; ".join(self.notes)


# ---- character classes and entropy ----------------------------------------------------

def shannon_bits(s: str) -> float:
    """Shannon entropy per character times length (AbstractEnsureMinimumEntropy)."""
    if not s:
        return 0.0
    n = len(s)
    per_char = -sum((c / n) * math.log2(c / n) for c in Counter(s).values())
    return per_char * n


def check_entropy(ctx: Ctx, what: str, value: str):
    """EnsureMinimum*Length (>= 128 bits) and EnsureMinimum*Entropy (> 96 bits)."""
    ctx.check(len(value.encode()) * 8 >= 128, f"{what} is shorter than 128 bits ({len(value)} chars)")
    bits = shannon_bits(value)
    ctx.check(bits > 96, f"{what} entropy {bits:.1f} bits is not above 96 (AbstractEnsureMinimumEntropy)")


def vschar(s: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E for c in s)


def nqchar(s: str) -> bool:
    return all(c == "\x21" or 0x23 <= ord(c) <= 0x5B or 0x5D <= ord(c) <= 0x7E for c in s)


def _error_description_ok(s: str) -> bool:
    return all(ord(c) in (0x09, 0x0A, 0x0D) or 0x20 <= ord(c) <= 0x21 or 0x23 <= ord(c) <= 0x5B or 0x5D <= ord(c) <= 0x7E for c in s)


def _error_uri_ok(s: str) -> bool:
    if not all(ord(c) == 0x21 or 0x23 <= ord(c) <= 0x5B or 0x5D <= ord(c) <= 0x7E for c in s):
        return False
    p = urllib.parse.urlsplit(s)
    return bool(p.scheme)


def check_error_fields(ctx: Ctx, where: str, fields: dict):
    """error / error_description / error_uri syntax (RFC 6749 4.1.2.1, 5.2)."""
    err = fields.get("error")
    if isinstance(err, str):
        ok = err != "" and all(0x20 <= ord(c) <= 0x21 or 0x23 <= ord(c) <= 0x5B or 0x5D <= ord(c) <= 0x7E for c in err)
        ctx.check(ok, f"{where}: 'error' has characters outside %x20-21 / %x23-5B / %x5D-7E")
    desc = fields.get("error_description")
    if desc is not None:
        if not isinstance(desc, str):
            ctx.fail(f"{where}: error_description is not a string")
        else:
            ctx.check(not any(c in desc for c in "\r\n\t"), f"{where}: error_description contains CR, LF or TAB", WARN)
            ctx.check(_error_description_ok(desc), f"{where}: error_description has characters outside the RFC 6749 set (non-ASCII, '\"' or '\\'): {desc!r}")
    uri = fields.get("error_uri")
    if uri is not None:
        ctx.check(isinstance(uri, str) and _error_uri_ok(uri), f"{where}: error_uri is not a valid URI of the allowed characters")


# ---- authorization responses -------------------------------------------------------

class Callback:
    """A response to the client: what arrived at its redirect URI (or
    post-logout URI). `params` are the ones the client reads: the form body of
    a POST, else the query; `reading` switches the source, as the suite's
    callback handler does by response mode."""

    def __init__(self, url: str, method: str = "GET", form: list[tuple[str, str]] | None = None,
                 content_type: str | None = None, source: str | None = None):
        self.url = url
        self.method = method
        self.content_type = content_type
        p = urllib.parse.urlsplit(url)
        self.base = urllib.parse.urlunsplit((p.scheme, p.netloc, p.path, "", ""))
        self.query_pairs = urllib.parse.parse_qsl(p.query, keep_blank_values=True)
        self.fragment_pairs = urllib.parse.parse_qsl(p.fragment, keep_blank_values=True)
        self.form_pairs = form or []
        self.source = source or ("form" if method == "POST" else "query")
        src = self.form_pairs if self.source == "form" else self.query_pairs
        self.params: dict[str, str] = {}
        for k, v in src:
            self.params.setdefault(k, v)
        self.fragment = dict(self.fragment_pairs)

    def reading(self, source: str) -> "Callback":
        """The same arrival, with the client reading `source` ("query" or "form")."""
        return Callback(self.url, self.method, self.form_pairs, self.content_type, source)

    def __repr__(self):
        return f"Callback({self.method} {self.url!r})"


def check_redirect_target(ctx: Ctx, cb: Callback, redirect_uri: str, what: str = "authorization response"):
    """The response went to the request's registered redirect_uri: scheme, host,
    port and path compared exactly (RFC 6749 3.1.2 and 4.1.2.1; OIDC Core 3.1.2.5)."""
    got, want = urllib.parse.urlsplit(cb.url), urllib.parse.urlsplit(redirect_uri)
    same = (got.scheme, got.netloc, got.path) == (want.scheme, want.netloc, want.path)
    ctx.check(same, f"{what} went to {cb.base!r}, not to the registered redirect_uri "
                    f"{urllib.parse.urlunsplit((want.scheme, want.netloc, want.path, '', ''))!r}")
    return same


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def receive(ctx: Ctx, cb: Callback, form_post: bool) -> Callback:
    """What the suite's callback endpoint reads, by the ResponseMode variant
    (AbstractOIDCCServerTest.processCallback): with form_post the form body, after
    CheckCallbackHttpMethodIsPost, CheckCallbackContentTypeIsFormUrlEncoded,
    RejectAuthCodeInUrlQuery and RejectErrorInUrlQuery; otherwise the query."""
    query = dict(cb.query_pairs)
    if form_post:
        ctx.check(cb.method == "POST", f"response_mode=form_post: the authorization response reached redirect_uri by HTTP {cb.method}, "
                                       f"not POST (CheckCallbackHttpMethodIsPost, OAuth 2.0 Form Post Response Mode 2)")
        if cb.method == "POST":
            ctx.check(cb.content_type == FORM_CONTENT_TYPE, f"response_mode=form_post: the response was posted as {cb.content_type!r}, "
                                                            f"not {FORM_CONTENT_TYPE} (CheckCallbackContentTypeIsFormUrlEncoded)")
        ctx.check(not query.get("code"), "response_mode=form_post: code in the redirect_uri query (RejectAuthCodeInUrlQuery)")
        ctx.check(not query.get("error"), "response_mode=form_post: error in the redirect_uri query (RejectErrorInUrlQuery)")
        return cb.reading("form")
    ctx.check(cb.method == "GET", f"the authorization response reached redirect_uri by HTTP {cb.method} although response_mode "
                                  f"was not form_post; the client reads the query (RFC 6749 4.1.2)")
    return cb.reading("query")


def check_iss_present(ctx: Ctx, cb: Callback, what: str = "authorization response"):
    """Kagi advertises authorization_response_iss_parameter_supported, so RFC 9207
    section 2 requires iss in every authorization response, errors included."""
    ctx.check("iss" in cb.params, f"{what} has no iss, although discovery advertises authorization_response_iss_parameter_supported (RFC 9207 2)")


def check_callback_common(ctx: Ctx, cb: Callback, redirect_uri: str, issuer: str):
    """CheckMatchingCallbackParameters and ValidateIssIfPresentInAuthorizationResponse,
    plus (Kagi) iss present."""
    registered = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect_uri).query, keep_blank_values=True))
    for k, v in registered.items():
        ctx.check(cb.params.get(k) == v, f"registered redirect_uri query parameter {k}={v} not returned (CheckMatchingCallbackParameters)")
    names = [k for k, _ in (cb.form_pairs if cb.source == "form" else cb.query_pairs)]
    dup = {k for k in names if names.count(k) > 1}
    ctx.check(not dup, f"authorization response repeats parameters {sorted(dup)}")
    if "iss" in cb.params:
        ctx.check(cb.params["iss"] == issuer, f"authorization response iss {cb.params['iss']!r} differs from issuer {issuer!r} (ValidateIssIfPresentInAuthorizationResponse)")
    check_iss_present(ctx, cb)


def check_state(ctx: Ctx, cb: Callback, state: str | None):
    """CheckStateInAuthorizationResponse: echoed byte for byte, absent when not sent."""
    got = cb.params.get("state")
    if state is None:
        ctx.check(got is None, f"state returned although none was sent: {got!r}")
    else:
        ctx.check(got == state, f"state not echoed exactly: sent {len(state)} chars {state[:20]!r}..., got {got!r}")


ERR_EXPECTED = {"error", "error_description", "error_uri", "state", "session_state", "iss"}


def check_err(ctx: Ctx, cb: Callback, state: str | None, issuer: str, *, redirect_uri: str, extra_expected=()):
    """An error redirect: it went to the registered redirect_uri (scheme, host,
    port, path) and carries error, the state sent and iss (Kagi; RFC 9207), then
    performGenericAuthorizationEndpointErrorResponseValidation (ERR)."""
    check_redirect_target(ctx, cb, redirect_uri, "error response")
    check_callback_common(ctx, cb, redirect_uri, issuer)
    check_state(ctx, cb, state)
    ctx.check("error" in cb.params, "authorization endpoint response has no 'error' (EnsureErrorFromAuthorizationEndpointResponse)")
    ctx.check("code" not in cb.params and "code" not in cb.fragment, "error response carries a code (RejectAuthCodeInAuthorizationEndpointResponse)")
    unexpected = sorted(set(cb.params) - ERR_EXPECTED - set(extra_expected))
    ctx.check(not unexpected, f"error response has unexpected parameters {unexpected}", WARN)
    check_error_fields(ctx, "authorization error response", cb.params)


UI_REQUIRED = {"interaction_required", "login_required", "account_selection_required", "consent_required"}


# ---- token endpoint errors --------------------------------------------------------------

def check_terr(ctx: Ctx, resp, expected: set[str], allow_401_for_invalid_client: bool = False, where: str = "token endpoint"):
    """TERR: 400 (401 only for invalid_client where allowed), JSON, expected error code, syntax."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if allow_401_for_invalid_client and err == "invalid_client" and resp.status == 401:
        pass
    else:
        ctx.check(resp.status == 400, f"{where}: expected HTTP 400, got {resp.status} (CheckTokenEndpointHttpStatus400)")
    ctx.check(resp.media_type == "application/json", f"{where}: error Content-Type is {resp.header('content-type')!r}, not application/json")
    if not isinstance(body, dict):
        ctx.fail(f"{where}: error body is not a JSON object: {resp.text[:120]!r}")
        return
    ctx.check(err in expected, f"{where}: expected error {sorted(expected)}, got {err!r} ({body.get('error_description')!r})")
    check_error_fields(ctx, where, body)


# ---- token responses --------------------------------------------------------------------

def check_expires_in(ctx: Ctx, body: dict, missing: str = INFO):
    """ExtractExpiresInFromTokenEndpointResponse + ValidateExpiresIn."""
    if "expires_in" not in body:
        if missing == WARN:
            ctx.warn("token response has no expires_in (RFC 6749 5.1 recommends it)")
        return
    v = body["expires_in"]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 31536000
    ctx.check(ok, f"expires_in {v!r} is not a JSON number in (0, 31536000] (ValidateExpiresIn)")


# ---- ID tokens --------------------------------------------------------------------------

STANDARD_ID_CLAIMS = {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "c_hash", "at_hash", "s_hash", "jti", "nbf", "verified_claims"}
UNREQUESTED_OK = {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "nbf", "jti", "sid", "s_hash", "openbanking_intent_id", "txn"}
SCOPE_CLAIMS = {
    "openid": ["sub"],
    "profile": ["name", "given_name", "family_name", "middle_name", "nickname", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "preferred_username"],
    "email": ["email", "email_verified"],
    "address": ["address"],
    "phone": ["phone_number", "phone_number_verified"],
    "offline_access": [],
}

_STRING_CLAIMS = {"sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "email", "gender", "zoneinfo", "locale", "phone_number", "txn"}


def _valid_string(v) -> bool:
    return isinstance(v, str) and v.strip() != "" and v.lower() != "null"


def _valid_birthdate(v) -> bool:
    if not _valid_string(v):
        return False
    year_now = time.gmtime().tm_year
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", v)
    if m:
        y, mo, d = map(int, m.groups())
        try:
            time.strptime(f"{y if y else 2000:04d}-{mo:02d}-{d:02d}", "%Y-%m-%d")
        except ValueError:
            return False
        return y == 0 or 1850 <= y <= year_now
    return v.isdigit() and 1850 <= int(v) <= year_now


def standard_claim_problems(claims: dict) -> list[str]:
    """AbstractValidateOpenIdStandardClaims: type of every standard identity claim."""
    bad = []
    for k, v in claims.items():
        if k in _STRING_CLAIMS and not _valid_string(v):
            bad.append(f"{k} must be a non-blank string, is {v!r}")
        elif k in ("email_verified", "phone_number_verified") and not isinstance(v, bool):
            bad.append(f"{k} must be a boolean, is {v!r}")
        elif k == "birthdate" and not _valid_birthdate(v):
            bad.append(f"birthdate {v!r} is not YYYY-MM-DD, 0000-MM-DD or YYYY (1850..now)")
        elif k == "updated_at" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            bad.append(f"updated_at must be a number, is {v!r}")
        elif k in ("_claim_names", "_claim_sources") and not isinstance(v, dict):
            bad.append(f"{k} must be an object")
        elif k == "address":
            if not isinstance(v, dict):
                bad.append("address must be an object")
            else:
                for ak, av in v.items():
                    if ak in ("formatted", "street_address", "locality", "region", "postal_code", "country") and not _valid_string(av):
                        bad.append(f"address.{ak} must be a non-blank string")
    return bad


def check_updated_at(ctx: Ctx, where: str, claims: dict):
    """Ensure*UpdatedAtValid: not in the future (+5 min), not before 1990."""
    v = claims.get("updated_at")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        now = time.time()
        ctx.check(v <= now + 300, f"{where} updated_at is in the future")
        ctx.check(v >= 631152000, f"{where} updated_at is before 1990-01-01")


def select_keys(ctx: Ctx, jwks: dict, header: dict, what: str, require_kid: bool = False) -> list:
    """The key choice of AbstractVerifyJwsSignature: by kid when the header has a
    non-empty one, else every key of the algorithm's kty (whose alg, if any, is
    the token's and whose use, if any, is sig). No candidate is a FAIL either way."""
    alg = header.get("alg")
    kty = jose.ALG_KTY.get(alg)
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
    kid = header.get("kid")

    def usable(k):
        return k.get("kty") == kty and k.get("alg") in (None, alg) and k.get("use") in (None, "sig")

    if kid is None or kid == "":  # the suite treats an empty kid as absent
        if require_kid:
            ctx.fail(f"{what} header has no kid")
        cands = [k for k in keys if usable(k)]
        if not cands:
            ctx.fail(f"{what} has no kid and the OP's JWKS has no key of kty {kty} usable with alg {alg} (AbstractVerifyJwsSignature)")
    else:
        cands = [k for k in keys if k.get("kid") == kid and usable(k)]
        if not cands:
            ctx.fail(f"{what}: no key in the OP's JWKS has kid {kid!r} with kty {kty} and alg {alg} (AbstractVerifyJwsSignature)")
        elif len(cands) > 1:
            ctx.fail(f"{what}: several JWKS keys match kid {kid!r}, alg {alg}")
            return []
    return cands


def verify_jws(ctx: Ctx, jwt: jose.Jwt, jwks: dict, what: str, require_kid: bool = False) -> bool:
    alg = jwt.header.get("alg")
    if alg not in jose.ALG_KTY:
        ctx.fail(f"{what} is signed with alg {alg!r}, which a client cannot verify against the OP's JWKS")
        return False
    cands = select_keys(ctx, jwks, jwt.header, what, require_kid)
    for k in cands:
        try:
            key = jose.public_key(k)
        except (ValueError, KeyError):
            continue
        if jose.verify(alg, key, jwt.signing_input, jwt.signature):
            return True
    if cands:
        ctx.fail(f"{what} signature does not verify with the OP's key {jwt.header.get('kid')!r} (ValidateIdTokenSignature)")
    return False


def check_id_token(ctx: Ctx, raw, *, client_id: str, issuer: str, jwks: dict, nonce,
                   acr_request: list[str] | None = None, access_token: str | None = None,
                   code: str | None = None, expected_alg: str | None = None, label: str = "ID token") -> jose.Jwt | None:
    """PerformStandardIdTokenChecks plus the at_hash/c_hash checks; returns the parsed token."""
    if not isinstance(raw, str) or raw == "":
        ctx.stop(f"{label} missing from the token response")
    try:
        jwt = jose.Jwt(raw)
    except (ValueError, UnicodeDecodeError) as e:
        ctx.stop(f"{label} is not a parseable JWS: {e}")
    c = jwt.claims
    now = time.time()
    # ValidateIdToken
    ctx.check("iss" in c, f"{label}: 'iss' claim missing")
    if "iss" in c:
        ctx.check(c["iss"] == issuer, f"{label}: iss {c['iss']!r} != issuer {issuer!r}")
    aud = c.get("aud")
    if aud is None:
        ctx.fail(f"{label}: 'aud' claim missing")
    elif isinstance(aud, list):
        ctx.check(client_id in aud, f"{label}: aud array {aud} lacks client_id {client_id!r}")
    else:
        ctx.check(aud == client_id, f"{label}: aud {aud!r} != client_id {client_id!r}")
    exp = c.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        ctx.fail(f"{label}: 'exp' missing or not a number")
    else:
        ctx.check(exp >= now - 300, f"{label}: expired (exp {exp})")
        ctx.check(exp <= now + 50 * 365 * 86400, f"{label}: exp unreasonably far in the future (milliseconds?)")
    iat = c.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        ctx.fail(f"{label}: 'iat' missing or not a number")
    else:
        ctx.check(now - 300 <= iat <= now + 300, f"{label}: iat {iat} not within 5 minutes of now")
    at = c.get("auth_time")
    if at is not None:
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            ctx.fail(f"{label}: auth_time is not a number")
        else:
            ctx.check(at >= now - 365 * 86400, f"{label}: auth_time over a year in the past")
            ctx.check(at <= now + 300, f"{label}: auth_time in the future")
    if "acr" in c:
        ctx.check(isinstance(c["acr"], str) and c["acr"] != "", f"{label}: acr {c['acr']!r} is not a non-empty string")
    # ValidateIdTokenStandardClaims
    identity = {k: v for k, v in c.items() if k not in STANDARD_ID_CLAIMS}
    for p in standard_claim_problems(identity):
        ctx.fail(f"{label}: {p}")
    # ValidateIdTokenNonce
    if nonce is ANY:
        pass
    elif nonce is not None:
        ctx.check(c.get("nonce") == nonce, f"{label}: nonce {c.get('nonce')!r} != sent nonce {nonce!r}")
    else:
        ctx.check("nonce" not in c, f"{label}: nonce present although none was sent")
    # ValidateIdTokenACRClaimAgainstRequest
    if acr_request:
        if "acr" not in c:
            ctx.fail(f"{label}: acr missing although an essential acr {acr_request} was requested")
        else:
            ctx.check(c["acr"] in acr_request, f"{label}: acr {c['acr']!r} is not one of the essential values {acr_request}")
    # ValidateIdTokenSignature
    verify_jws(ctx, jwt, jwks, label)
    if expected_alg is not None:
        ctx.check(jwt.header.get("alg") == expected_alg, f"{label}: signed with {jwt.header.get('alg')!r}, the client is registered for {expected_alg}")
    # CheckForSubjectInIdToken
    sub = c.get("sub")
    if not isinstance(sub, str) or sub == "":
        ctx.fail(f"{label}: 'sub' missing or empty")
    else:
        ctx.check(len(sub) <= 255, f"{label}: sub longer than 255 characters")
        ctx.check(all(0x20 <= ord(ch) < 0x7F for ch in sub), f"{label}: sub has non-printable or non-ASCII characters")
    check_updated_at(ctx, label, c)
    # at_hash / c_hash: optional in the token endpoint's ID token, but must be right
    alg = jwt.header.get("alg")
    if "at_hash" in c and access_token is not None:
        ctx.check(c["at_hash"] == jose.half_hash(alg, access_token), f"{label}: at_hash does not match the access token (ValidateAtHash)")
    if "c_hash" in c and code is not None:
        ctx.check(c["c_hash"] == jose.half_hash(alg, code), f"{label}: c_hash does not match the code (ValidateCHash)")
    return jwt


def check_no_unrequested_claims(ctx: Ctx, claims: dict, scope: str, label="ID token"):
    """EnsureIdTokenDoesNotContainNonRequestedClaims (WARNING)."""
    allowed = set(UNREQUESTED_OK)
    scopes = scope.split(" ")
    if "openid" in scopes:
        for s in scopes:
            allowed.update(SCOPE_CLAIMS.get(s, []))
    extra = sorted(set(claims) - allowed)
    ctx.check(not extra, f"{label} contains non-requested claims {extra}", WARN)


# ---- userinfo ---------------------------------------------------------------------------

def check_userinfo_claims(ctx: Ctx, info: dict, id_sub: str | None):
    """ValidateUserInfoStandardClaims, EnsureUserInfoContainsSub, sub equality,
    EnsureUserInfoUpdatedAtValid, aggregated/distributed claim references."""
    for p in standard_claim_problems(info):
        ctx.fail(f"userinfo: {p}")
    ctx.check(isinstance(info.get("sub"), str) and info.get("sub") != "", "userinfo has no sub (EnsureUserInfoContainsSub)")
    if id_sub is not None and "sub" in info:
        ctx.check(info["sub"] == id_sub, f"userinfo sub {info['sub']!r} != ID token sub {id_sub!r}")
    check_updated_at(ctx, "userinfo", info)
    names = info.get("_claim_names")
    sources = info.get("_claim_sources")
    if isinstance(names, dict):
        for claim, src in names.items():
            ctx.check(isinstance(sources, dict) and src in sources, f"userinfo _claim_names.{claim} refers to a missing _claim_sources member")


def check_scope_claims(ctx: Ctx, info: dict, scope: str, where="userinfo"):
    """VerifyScopesReturnedInUserInfoClaims (WARNING)."""
    expected = [c for s in scope.split(" ") for c in SCOPE_CLAIMS.get(s, [])]
    missing = [c for c in expected if c not in info]
    ctx.check(not missing, f"{where} lacks claims of the requested scopes: {missing}", WARN)


# ---- JWKS and discovery -----------------------------------------------------------------

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
KNOWN_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519", "Ed448",
              "RSA-OAEP", "RSA-OAEP-256", "RSA1_5", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"}


def check_jwks(ctx: Ctx, jwks, flow_module: bool = True):
    """FetchServerKeys (object), ValidateJwksSequence, CheckForKeyIdInServerJWKs, CheckDistinctKeyIdValueInServerJWKs."""
    if not isinstance(jwks, dict):
        ctx.stop("jwks_uri did not return a JSON object (FetchServerKeys)")
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        ctx.fail("JWKS has no 'keys' array (ValidateJwksStructure)")
        return
    for i, k in enumerate(keys):
        if not isinstance(k, dict):
            ctx.fail(f"JWKS key {i} is not an object")
            continue
        priv = sorted(PRIVATE_MEMBERS & set(k))
        ctx.check(not priv and k.get("kty") != "oct", f"JWKS key {i} carries private or symmetric material {priv or 'oct'}")
        kty = k.get("kty")
        need = {"RSA": ["n", "e"], "EC": ["x", "y"], "OKP": ["x", "crv"]}.get(kty)
        if kty is None:
            ctx.fail(f"JWKS key {i} has no kty")
        elif need is None:
            ctx.warn(f"JWKS key {i} has unknown kty {kty!r} (WarnOnUnusableJwksKeys)")
        else:
            for m in need:
                if m == "crv":
                    ctx.check(isinstance(k.get(m), str), f"JWKS key {i} lacks crv")
                else:
                    ctx.check(jose.is_b64url(k.get(m)), f"JWKS key {i} member {m} missing or not unpadded base64url (ValidateJwksStructure)")
            try:
                jose.public_key(k)
            except (ValueError, KeyError) as e:
                if kty == "EC" and k.get("crv") not in ("P-256", "P-384", "P-521") or kty == "OKP" and k.get("crv") != "Ed25519":
                    ctx.warn(f"JWKS key {i} uses an unsupported curve {k.get('crv')!r}")
                else:
                    ctx.fail(f"JWKS key {i} does not parse: {e} (ParseUsableJwksKeys)")
        if "alg" in k and k["alg"] not in KNOWN_ALGS:
            ctx.warn(f"JWKS key {i} has unknown alg {k['alg']!r}")
        if flow_module:
            ctx.check(isinstance(k.get("kid"), str) and k["kid"].strip() != "", f"JWKS key {i} has no kid (CheckForKeyIdInServerJWKs)")
    if flow_module:
        kids = [k.get("kid") for k in keys if isinstance(k, dict) and k.get("kid")]
        dup = sorted({x for x in kids if kids.count(x) > 1})
        ctx.check(not dup, f"JWKS repeats kid {dup} (CheckDistinctKeyIdValueInServerJWKs)")


def is_url(v, https: bool = True) -> bool:
    if not isinstance(v, str):
        return False
    p = urllib.parse.urlsplit(v)
    return (p.scheme == "https" if https else p.scheme in ("http", "https")) and bool(p.hostname)


META_URI = set("authorization_challenge_endpoint authorization_endpoint backchannel_authentication_endpoint challenge_endpoint check_session_iframe device_authorization_endpoint end_session_endpoint federation_registration_endpoint global_token_revocation_endpoint grant_management_endpoint information_uri introspection_endpoint issuer jwks_uri logo_uri op_policy_uri op_tos_uri organization_uri pushed_authorization_request_endpoint registration_endpoint revocation_endpoint service_documentation signed_jwks_uri status_list_aggregation_endpoint token_endpoint userinfo_endpoint".split())
META_STR_ARRAY = set("acr_values_supported attachments_supported authorization_details_types_supported authorization_encryption_alg_values_supported authorization_encryption_enc_values_supported authorization_signing_alg_values_supported backchannel_authentication_request_signing_alg_values_supported backchannel_token_delivery_modes_supported claim_types_supported claims_in_verified_claims_supported claims_locales_supported claims_supported client_attestation_pop_signing_alg_values_supported client_attestation_signing_alg_values_supported client_registration_types_supported code_challenge_methods_supported contacts display_values_supported documents_check_methods_supported documents_methods_supported documents_supported dpop_signing_alg_values_supported electronic_records_supported evidence_supported global_token_revocation_endpoint_auth_methods_supported grant_management_actions_supported grant_types_supported id_token_encryption_alg_values_supported id_token_encryption_enc_values_supported id_token_signing_alg_values_supported introspection_encryption_alg_values_supported introspection_encryption_enc_values_supported introspection_endpoint_auth_methods_supported introspection_endpoint_auth_signing_alg_values_supported introspection_signing_alg_values_supported keywords prompt_values_supported protected_resources request_authentication_signing_alg_values_supported request_object_encryption_alg_values_supported request_object_encryption_enc_values_supported request_object_signing_alg_values_supported response_modes_supported response_types_supported revocation_endpoint_auth_methods_supported revocation_endpoint_auth_signing_alg_values_supported scopes_supported subject_types_supported token_endpoint_auth_methods_supported token_endpoint_auth_signing_alg_values_supported transformed_claims_functions_supported trust_frameworks_supported ui_locales_supported userinfo_encryption_alg_values_supported userinfo_encryption_enc_values_supported userinfo_signing_alg_values_supported".split())
META_BOOL = set("authorization_response_iss_parameter_supported backchannel_logout_session_supported backchannel_logout_supported backchannel_user_code_parameter_supported claims_parameter_supported client_id_metadata_document_supported frontchannel_logout_session_supported frontchannel_logout_supported grant_management_action_required pre-authorized_grant_anonymous_access_supported request_parameter_supported request_uri_parameter_supported require_pushed_authorization_requests require_request_uri_registration require_signed_request_object tls_client_certificate_bound_access_tokens".split())
META_OBJECT = {"jwks", "mtls_endpoint_aliases"}
META_STRING = {"description", "display_name", "organization_name", "signed_metadata"}
META_ANY = {"request_authentication_methods_supported", "transformed_claims_predefined"}
META_KNOWN = META_URI | META_STR_ARRAY | META_BOOL | META_OBJECT | META_STRING | META_ANY


def check_metadata_schema(ctx: Ctx, m: dict):
    """ValidateServerMetadataAgainstSchema (FAIL) and CheckForUnexpectedParametersInServerMetadata (WARNING)."""
    for k, v in m.items():
        if k in META_URI:
            ok = isinstance(v, str) and bool(urllib.parse.urlsplit(v).scheme)
        elif k in META_STR_ARRAY:
            ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
        elif k in META_BOOL:
            ok = isinstance(v, bool)
        elif k in META_OBJECT:
            ok = isinstance(v, dict)
        elif k in META_STRING:
            ok = isinstance(v, str)
        else:
            ok = True
        ctx.check(ok, f"metadata {k} has the wrong type: {v!r} (ValidateServerMetadataAgainstSchema)")
    unknown = sorted(set(m) - META_KNOWN)
    ctx.check(not unknown, f"metadata has names the suite does not know: {unknown} (CheckForUnexpectedParametersInServerMetadata)", WARN)


_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?(-([A-Za-z0-9]{5,8}|\d[A-Za-z0-9]{3}))*$")


def check_locales(ctx: Ctx, m: dict):
    """CheckDiscEndpointLocalesSyntax (FAIL) and ...CanonicalCasing (WARNING)."""
    for field in ("ui_locales_supported", "claims_locales_supported"):
        v = m.get(field)
        if v is None:
            continue
        if not isinstance(v, list):
            ctx.fail(f"{field} is not an array")
            continue
        for tag in v:
            if not isinstance(tag, str) or not _LANG_RE.match(tag):
                ctx.fail(f"{field}: {tag!r} is not a well-formed BCP 47 tag")
                continue
            parts = tag.split("-")
            canon = [parts[0].lower()] + [p.title() if len(p) == 4 else p.upper() if len(p) == 2 else p.lower() for p in parts[1:]]
            ctx.check("-".join(canon) == tag, f"{field}: {tag!r} is not in canonical casing ({'-'.join(canon)})", WARN)


def check_all_endpoints_https(ctx: Ctx, m: dict):
    """CheckDiscEndpointAllEndpointsAreHttps."""
    for k, v in m.items():
        if k.endswith("_endpoint"):
            ctx.check(is_url(v), f"{k} {v!r} is not an https URL (CheckDiscEndpointAllEndpointsAreHttps)")
