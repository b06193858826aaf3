"""A small HTTP(S) client that behaves like the suite's browser and back-end
calls: no automatic redirects, a cookie jar for the OP's origin, TLS checked
against the runner's throwaway CA, and raw access to status, headers and body.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Response:
    """One HTTP response, body fully read."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def media_type(self) -> str:
        ct = self.header("content-type") or ""
        return ct.split(";")[0].strip().lower()

    @property
    def location(self) -> str | None:
        loc = self.header("location")
        return urllib.parse.urljoin(self.url, loc) if loc is not None else None


class _Conn(http.client.HTTPSConnection):
    """HTTPS to a loopback address while presenting (and verifying) a host name."""

    def __init__(self, host: str, port: int, connect_ip: str, context: ssl.SSLContext, timeout: float):
        super().__init__(host, port, context=context, timeout=timeout)
        self._connect_ip = connect_ip

    def connect(self):
        sock = socket.create_connection((self._connect_ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass
class Http:
    """Connection settings shared by every client of one run."""

    ca_file: str
    connect_ip: str = "127.0.0.1"
    timeout: float = 30.0
    _ctx: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    @property
    def context(self) -> ssl.SSLContext:
        if self._ctx is None:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            ctx.check_hostname = True
            self._ctx = ctx
        return self._ctx

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Response:
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        hdrs = {"User-Agent": "kagi-conformance-runner/1", "Accept-Language": "en"}
        hdrs.update(headers or {})
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = _Conn(parts.hostname, parts.port or 443, self.connect_ip, self.context, self.timeout)
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=self.timeout)
        else:
            raise ValueError(f"cannot fetch {url!r}")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, list(r.getheaders()), data, url)
        finally:
            conn.close()


    def request_multi(self, method: str, url: str, headers: list[tuple[str, str]]) -> Response:
        """A request whose header list may name one header twice (DPoP's
        "exactly one DPoP header" check)."""
        parts = urllib.parse.urlsplit(url)
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        conn = _Conn(parts.hostname, parts.port or 443, self.connect_ip, self.context, self.timeout)
        try:
            conn.putrequest(method, path)
            for k, v in [("User-Agent", "kagi-conformance-runner/1"), ("Accept-Language", "en")] + headers:
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            return Response(r.status, list(r.getheaders()), r.read(), url)
        finally:
            conn.close()


def form(pairs) -> bytes:
    """application/x-www-form-urlencoded body from pairs or a dict (order kept)."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return urllib.parse.urlencode(list(items)).encode()


def with_query(url: str, pairs) -> str:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    q = urllib.parse.urlencode(list(items), quote_via=urllib.parse.quote)
    return url + ("&" if "?" in url else "?") + q if q else url


def origin(url: str) -> tuple[str, str, int]:
    p = urllib.parse.urlsplit(url)
    return (p.scheme, (p.hostname or "").lower(), p.port or {"https": 443, "http": 80}.get(p.scheme, 0))


def form_action_sources(resp: Response) -> list[str] | None:
    """The form-action source list of a page's Content-Security-Policy headers
    (None when no policy restricts forms; several policies all apply: the
    first one naming form-action is used, which is all Kagi sends)."""
    for header in resp.header_all("content-security-policy"):
        for directive in header.split(";"):
            parts = directive.strip().split()
            if parts and parts[0].lower() == "form-action":
                return parts[1:]
    return None


def _path_matches(source_path: str | None, url: str) -> bool:
    """CSP 3 path-part matching: an empty source path matches everything, one
    ending in "/" is a prefix, any other must equal the URL's path. A query in
    the source is ignored, as browsers do."""
    if not source_path:
        return True
    want = urllib.parse.unquote(source_path.split("?", 1)[0].split("#", 1)[0])
    got = urllib.parse.unquote(urllib.parse.urlsplit(url).path) or "/"
    return got.startswith(want) if want.endswith("/") else got == want


def source_allows(sources: list[str], url: str, self_url: str, match_path: bool = False) -> bool:
    """CSP source-list matching of a navigation target. After a redirect paths
    are not compared (CSP 3); `match_path` compares them, as for the form's own
    action."""
    scheme, host, port = origin(url)
    for src in sources:
        s = src.strip()
        low = s.lower()
        if low == "'none'":
            continue
        if low == "'self'":
            ss, sh, sp = origin(self_url)
            if host == sh and port == sp and (scheme == ss or (ss == "http" and scheme == "https")):
                return True
            continue
        if low == "*":
            if scheme in ("http", "https"):
                return True
            continue
        if re.fullmatch(r"[a-z][a-z0-9+.-]*:", low):
            if scheme == low[:-1] or (low == "http:" and scheme == "https"):
                return True
            continue
        m = re.fullmatch(r"(?:([a-z][a-z0-9+.-]*)://)?(\*\.)?([^/:]+|\*)(?::(\d+|\*))?(/.*)?", s, re.I)
        if not m:
            continue
        sscheme, wild, shost, sport, spath = m.groups()
        sscheme, shost = (sscheme or "").lower() or None, shost.lower()
        if sscheme and sscheme != scheme and not (sscheme == "http" and scheme == "https"):
            continue
        if not sscheme and scheme not in ("http", "https"):
            continue
        if shost != "*":
            if wild:
                if not host.endswith("." + shost):
                    continue
            elif host != shost:
                continue
        if sport == "*":
            pass
        elif sport is not None:
            if port != int(sport):
                continue
        elif port != {"https": 443, "http": 80}.get(sscheme or scheme, 0):
            continue
        if match_path and not _path_matches(spath, url):
            continue
        return True
    return False


class Browser:
    """A user agent: keeps the OP's cookies (only for its origin), never follows
    redirects by itself. `get`/`post` return the raw response."""

    def __init__(self, http: Http, op_origin: str, form_action_on_redirects: bool = True):
        self.http = http
        self.form_action_on_redirects = form_action_on_redirects
        self.op_origin = op_origin.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.samesite: dict[str, str] = {}
        # CSP form-action of the page whose form started the current navigation:
        # Chrome and Safari also check it against every redirect of that navigation
        # (w3c/webappsec-csp#8); Firefox does not.
        self.form_policy: tuple[list[str], str] | None = None

    def _is_op(self, url: str) -> bool:
        return url.startswith(self.op_origin + "/") or url == self.op_origin

    def _store_cookies(self, resp: Response):
        for raw in resp.header_all("set-cookie"):
            first, *attrs = raw.split(";")
            name, _, value = first.strip().partition("=")
            expired = False
            samesite = "lax"  # what browsers assume when the attribute is absent
            for a in attrs:
                k, _, v = a.strip().partition("=")
                if k.lower() == "max-age" and v.strip().lstrip("-").isdigit() and int(v) <= 0:
                    expired = True
                if k.lower() == "samesite":
                    samesite = v.strip().lower()
            flags = {a.strip().split("=", 1)[0].strip().lower(): a.strip().partition("=")[2].strip() for a in attrs}
            if name.startswith("__Host-") and ("secure" not in flags or flags.get("path") != "/" or "domain" in flags):
                continue  # browsers refuse a __Host- cookie that is not Secure, Path=/ and host-only
            if name.startswith("__Secure-") and "secure" not in flags:
                continue
            if expired or value == "":
                self.cookies.pop(name, None)
                self.samesite.pop(name, None)
            else:
                self.cookies[name] = value
                self.samesite[name] = samesite

    def _sendable(self, name: str, method: str, cross_site: bool) -> bool:
        """SameSite as browsers apply it to top-level navigations: Strict only
        same-site, Lax also on cross-site GET navigations, None always."""
        mode = self.samesite.get(name, "lax")
        if not cross_site or mode == "none":
            return True
        return mode == "lax" and method in ("GET", "HEAD")

    def send(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             cross_site: bool = False) -> Response:
        """A top-level navigation. `cross_site`: it was started from another site
        (the relying party) or is a redirect hop of such a navigation."""
        hdrs = dict(headers or {})
        hdrs.setdefault("Accept", "text/html,application/xhtml+xml")
        jar = {k: v for k, v in self.cookies.items() if self._sendable(k, method, cross_site)}
        if self._is_op(url) and jar:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if body is not None:
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if method == "POST":
            # Browsers name the origin of the page that posts: the OP's own pages,
            # or the relying party's for a cross-site authorization request.
            hdrs.setdefault("Origin", "https://rp.conformance.invalid" if cross_site else self.op_origin)
        resp = self.http.request(method, url, hdrs, body)
        if self._is_op(url):
            self._store_cookies(resp)
        return resp

    def get(self, url: str, cross_site: bool = False) -> Response:
        return self.send("GET", url, cross_site=cross_site)

    def post(self, url: str, pairs, cross_site: bool = False) -> Response:
        return self.send("POST", url, form(pairs), cross_site=cross_site)

    def submit(self, page: Response, url: str, pairs) -> Response:
        """The user submits a form of `page` (method POST) to `url`."""
        sources = form_action_sources(page) if self.form_action_on_redirects else None
        self.form_policy = (sources, page.url) if sources is not None else None
        return self.post(url, pairs)

    def form_redirect_blocked(self, url: str) -> str | None:
        """Why a Chromium/WebKit browser would refuse this redirect of a form
        submission, or None. Call for each redirect hop of the navigation."""
        if self.form_policy is None:
            return None
        sources, page_url = self.form_policy
        if source_allows(sources, url, page_url):
            return None
        return f"form-action {' '.join(sources)} of the {urllib.parse.urlsplit(page_url).path} page"

    def navigation_done(self):
        """A page was rendered: the form submission's navigation is over."""
        self.form_policy = None

    def clear(self):
        self.cookies.clear()
        self.samesite.clear()
