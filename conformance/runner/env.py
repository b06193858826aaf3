"""The world around Kagi for one run: a throwaway CA and server certificate,
the Kagi process (TLS, fresh SQLite database), its CLI, an SMTP listener that
receives the email codes, and a loopback listener for back-channel logout."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import string
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from . import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(workdir: str) -> tuple[str, str, str]:
    """A CA and a certificate for localhost / 127.0.0.1 signed by it (openssl)."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=Kagi conformance throwaway CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(workdir, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return tuple(os.path.join(workdir, n) for n in ("ca.pem", "server.pem", "server.key"))


# ---- SMTP ------------------------------------------------------------------------------

class Mailbox:
    """Messages received by the SMTP listener, by recipient."""

    def __init__(self):
        self.cond = threading.Condition()
        self.by_rcpt: dict[str, list[bytes]] = {}

    def add(self, rcpts: list[str], data: bytes):
        with self.cond:
            for r in rcpts:
                self.by_rcpt.setdefault(r.lower(), []).append(data)
            self.cond.notify_all()

    def count(self, rcpt: str) -> int:
        with self.cond:
            return len(self.by_rcpt.get(rcpt.lower(), []))

    def wait_new(self, rcpt: str, seen: int, timeout: float = 15.0) -> bytes | None:
        deadline = time.time() + timeout
        with self.cond:
            while len(self.by_rcpt.get(rcpt.lower(), [])) <= seen:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.by_rcpt[rcpt.lower()][seen]


def mail_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            parts.append(part.get_content())
    return "\n".join(parts) or msg.get_body().get_content()


def code_from_mail(raw: bytes) -> str | None:
    m = re.search(r"(?<!\d)(\d{6})(?!\d)", mail_text(raw))
    return m.group(1) if m else None


class _SmtpHandler(socketserver.StreamRequestHandler):
    def handle(self):
        box: Mailbox = self.server.mailbox  # type: ignore[attr-defined]
        w = self.wfile.write
        w(b"220 localhost conformance SMTP ready\r\n")
        rcpts: list[str] = []
        sender = None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                rcpts, sender = [], None
                w(b"250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == "HELO":
                w(b"250 localhost\r\n")
            elif verb == "MAIL":
                sender, rcpts = arg, []
                w(b"250 2.1.0 OK\r\n")
            elif verb == "RCPT":
                m = re.search(r"<([^>]*)>", arg)
                rcpts.append(m.group(1) if m else arg.split(":", 1)[-1].strip())
                w(b"250 2.1.5 OK\r\n")
            elif verb == "DATA":
                if not rcpts or sender is None:
                    w(b"503 5.5.1 RCPT first\r\n")
                    continue
                w(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                data = []
                while True:
                    dl = self.rfile.readline()
                    if not dl or dl in (b".\r\n", b".\n"):
                        break
                    if dl.startswith(b".."):
                        dl = dl[1:]
                    data.append(dl)
                box.add(rcpts, b"".join(data))
                rcpts, sender = [], None
                w(b"250 2.0.0 OK queued\r\n")
            elif verb == "RSET":
                rcpts, sender = [], None
                w(b"250 2.0.0 OK\r\n")
            elif verb == "NOOP":
                w(b"250 2.0.0 OK\r\n")
            elif verb == "QUIT":
                w(b"221 2.0.0 Bye\r\n")
                return
            else:
                w(b"502 5.5.2 Command not recognised\r\n")


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_smtp() -> tuple[_ThreadingTCP, Mailbox]:
    box = Mailbox()
    srv = _ThreadingTCP(("127.0.0.1", 0), _SmtpHandler)
    srv.mailbox = box  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, box


# ---- back-channel logout listener ------------------------------------------------------

@dataclass
class BackchannelRequest:
    path: str
    headers: dict
    body: bytes
    at: float

    @property
    def form(self) -> list[tuple[str, str]]:
        return urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)


class Backchannel:
    """Records every POST; answers 200 with Cache-Control: no-store, as the suite does."""

    def __init__(self):
        self.cond = threading.Condition()
        self.requests: list[BackchannelRequest] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with outer.cond:
                    outer.requests.append(BackchannelRequest(self.path, dict(self.headers), body, time.time()))
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, path: str, since: int, timeout: float) -> list[BackchannelRequest]:
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests[since:] if r.path == path]
                left = deadline - time.time()
                if got or left <= 0:
                    return got
                self.cond.wait(left)

    def mark(self) -> int:
        with self.cond:
            return len(self.requests)


# ---- Kagi --------------------------------------------------------------------------------

@dataclass
class Customer:
    code: str
    password: str
    email: str
    name: str
    sub: str
    totp_secret: str | None = None


@dataclass
class Client:
    """A client registered through the CLI, as the suite's config would hold it."""

    client_id: str
    secret: str | None
    auth_method: str
    redirect_uri: str
    id_token_alg: str = "RS256"
    private_key: object | None = None
    kid: str | None = None
    key_alg: str | None = None
    public: bool = False
    post_logout_redirect_uri: str | None = None
    backchannel_logout_uri: str | None = None
    response_mode: str = "default"  # the plan's ResponseMode variant: "default" or "form_post"
    extra: dict = field(default_factory=dict)


class Kagi:
    """One Kagi server and its CLI on a fresh database."""

    def __init__(self, binary: str, workdir: str, ca: str, cert: str, key: str, smtp_port: int):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.issuer = f"https://localhost:{self.port}"
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("KAGI_"):
                del self.env[k]
        self.env.update({
            "KAGI_ISSUER": self.issuer,
            "KAGI_LISTEN": f"127.0.0.1:{self.port}",
            "KAGI_DATABASE_URL": f"sqlite://{workdir}/kagi.db?mode=rwc",
            "KAGI_KEYS_DIR": os.path.join(workdir, "keys"),
            "KAGI_OUTBOX_DIR": os.path.join(workdir, "outbox"),
            "KAGI_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "KAGI_MAIL_FROM": "Kagi <no-reply@localhost>",
            "KAGI_TLS_CERT": cert,
            "KAGI_TLS_KEY": key,
            "KAGI_LOG_FORMAT": "text",
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
        })
        self.http = web.Http(ca)
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(workdir, "kagi.log")
        self._lock = threading.Lock()
        self._seq = 0

    def start(self, timeout: float = 30.0):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kagi exited with {self.proc.returncode}; see {self.log_path}")
            try:
                r = self.http.request("GET", self.issuer + "/readyz")
                if r.status == 200:
                    return
                last = r.status
            except OSError as e:
                last = e
            time.sleep(0.2)
        raise RuntimeError(f"kagi did not become ready: {last}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def cli(self, *args: str, stdin: str | None = None) -> dict:
        r = subprocess.run([self.binary, "--json", *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=60)
        try:
            out = json.loads(r.stdout)
        except ValueError:
            out = None
        if r.returncode != 0 or not isinstance(out, dict) or "error" in out:
            raise RuntimeError(f"kagi {' '.join(args)} failed ({r.returncode}): {r.stdout.strip()} {r.stderr.strip()[-400:]}")
        return out

    def next_id(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def add_customer(self, totp: bool = False) -> Customer:
        n = self.next_id()
        code = f"CONF{n:05d}"
        password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))
        mail = f"tester{n}@conformance.example"
        name = f"Conformance Tester {n}"
        out = self.cli("user", "add", "--customer-code", code, "--name", name, "--email", mail, "--password-stdin", stdin=password + "\n")
        c = Customer(code, password, mail, name, out["sub"])
        if totp:
            uri = self.cli("user", "totp-enroll", "--customer-code", code)["otpauth_uri"]
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(uri).query))
            c.totp_secret = q["secret"]
        return c

    def add_client(self, client_id: str, redirect_uris: list[str], *, auth_method: str | None = None, public: bool = False,
                   jwks: dict | None = None, post_logout: list[str] = (), backchannel: str | None = None,
                   id_token_alg: str | None = None, require_acr: str | None = None, require_acr_from: str | None = None,
                   third_party: bool = False, profile: str | None = None,
                   authorization_details_types: list[str] = ()) -> dict:
        args = ["client", "add", "--client-id", client_id, "--name", f"Conformance {client_id}"]
        for u in redirect_uris:
            args += ["--redirect-uri", u]
        if public:
            args.append("--public")
        if auth_method:
            args += ["--auth-method", auth_method]
        if jwks is not None:
            args += ["--jwks", json.dumps(jwks)]
        for u in post_logout:
            args += ["--post-logout-redirect-uri", u]
        if backchannel:
            args += ["--backchannel-logout-uri", backchannel]
        if id_token_alg:
            args += ["--id-token-alg", id_token_alg]
        if require_acr:
            args += ["--require-acr", require_acr]
        if require_acr_from:
            args += ["--require-acr-from", require_acr_from]
        if third_party:
            args.append("--third-party")
        if profile:
            args += ["--profile", profile]
        for t in authorization_details_types:
            args += ["--authorization-details-type", t]
        return self.cli(*args)


def cleanup_dir(path: str):
    shutil.rmtree(path, ignore_errors=True)
