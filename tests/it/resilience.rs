//! Kagi under hostile clients and a failing database.
//!
//! Slow or silent clients are cut off by the header-read and keep-alive
//! timeouts and cannot use up the connections (the cap, and the open-file
//! limit); a response sent before the request body was read says
//! `Connection: close` (RFC 9112 §9.6); a database that refuses or stalls
//! gives 503 with `Retry-After` instead of 500s and long waits, and nothing is
//! lost once it is back.
//!
//! The network tests do not touch the database in any interesting way, so
//! they run on SQLite only; the database faults are PostgreSQL's, made by a
//! proxy between Kagi and the server. Time bounds are generous: they tell
//! "closed" from "never closed", never fast from slow.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::proxy::{DbProxy, Fault};
use crate::helpers::rp::Rp;
use crate::helpers::{Backend, TestApp, TestDatabase};

/// How long a test waits for something that should happen within a second or two.
const BOUND: Duration = Duration::from_secs(15);
const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n";
const KEEP_ALIVE_GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Whether the peer closes the connection (EOF or reset) within `bound`,
/// reading and discarding whatever it sends first.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, bound: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Reads one HTTP/1.1 response with a `Content-Length`: the head in lower
/// case, and the body.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read_more = async |data: &mut Vec<u8>| {
        let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .expect("the response comes in time")
            .expect("the connection stays readable");
        assert!(
            n > 0,
            "closed before a whole response: {:?}",
            String::from_utf8_lossy(data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        read_more(&mut data).await;
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while data.len() < head_end + length {
        read_more(&mut data).await;
    }
    (head, data[head_end..head_end + length].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_half_sent_and_trickling_requests_are_cut_off_after_the_header_read_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("KAGI_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut silent = connect(app.addr).await;
    let mut half = connect(app.addr).await;
    half.write_all(HALF_SENT).await.unwrap();
    let mut trickle = connect(app.addr).await;
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();

    assert!(
        closed_within(&mut silent, BOUND).await,
        "a connection that never sends is closed"
    );
    assert!(
        closed_within(&mut half, BOUND).await,
        "a half-sent header is cut off"
    );
    // One header line every 250 ms, for up to 15 s: the writes start failing
    // once the server has closed the connection.
    let mut cut_off = false;
    for i in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if trickle
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a header trickling in is cut off");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    // A header-read timeout far beyond the bound: only the keep-alive timer can close it.
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("KAGI_KEEP_ALIVE_TIMEOUT_SECS", "1"),
            ("KAGI_HEADER_READ_TIMEOUT_SECS", "60"),
        ],
    )
    .await;
    let mut conn = connect(app.addr).await;
    for _ in 0..2 {
        conn.write_all(KEEP_ALIVE_GET).await.unwrap();
        let (head, body) = read_response(&mut conn).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        assert_eq!(body, b"ok\n");
    }
    assert!(
        closed_within(&mut conn, BOUND).await,
        "the idle connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_beyond_the_connection_cap_do_not_stop_the_server_answering() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("KAGI_MAX_CONNECTIONS", "8"),
            ("KAGI_HEADER_READ_TIMEOUT_SECS", "60"),
        ],
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut conn = connect(app.addr).await;
        conn.write_all(HALF_SENT).await.unwrap();
        slow.push(conn);
    }
    let fresh = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let answer = fresh.get(app.url("/healthz")).send().await;
    assert_eq!(
        answer
            .expect("answered while 20 slow connections are held")
            .status(),
        200
    );
    drop(slow);
}

/// A `kagi serve` child process, killed when dropped.
struct ServerProcess {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts the binary under `prlimit --nofile=LIMIT:LIMIT` on a free port
    /// with a fresh SQLite database in `dir`, and waits until it answers.
    async fn start_with_file_limit(
        dir: &std::path::Path,
        limit: u32,
        extra: &[(&str, &str)],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://localhost:{port}");
        let log = dir.join("server.log");
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={limit}:{limit}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_kagi"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAGI_ISSUER", &base)
            .env("KAGI_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "KAGI_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.join("kagi.db").display()),
            )
            .env("KAGI_KEYS_DIR", dir.join("keys"))
            .env("KAGI_OUTBOX_DIR", dir.join("outbox"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut server = Self {
            child: cmd
                .spawn()
                .expect("prlimit (util-linux) runs the kagi binary"),
            base,
            log,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        for _ in 0..150 {
            // /readyz, not /healthz: the start-up server answers /healthz
            // before the real one takes over.
            let answer = client.get(format!("{}/readyz", server.base)).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("kagi exited with {status}: {}", server.stderr());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("kagi did not start: {}", server.stderr());
    }

    fn addr(&self) -> SocketAddr {
        let port = self.base.rsplit(':').next().unwrap().parse().unwrap();
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_open_file_limit_many_slow_connections_do_not_stop_the_server_answering() {
    let dir = tempfile::tempdir().unwrap();
    // The default connection cap follows the open-file limit; the header-read
    // timeout is long so that only the cap, not the timer, can keep the server free.
    let server = ServerProcess::start_with_file_limit(
        dir.path(),
        256,
        &[("KAGI_HEADER_READ_TIMEOUT_SECS", "120")],
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut conn = connect(server.addr()).await;
        // A write may fail once the server has shed the connection; that is fine.
        let _ = conn.write_all(HALF_SENT).await;
        slow.push(conn);
    }
    let fresh = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let answer = fresh.get(format!("{}/healthz", server.base)).send().await;
    let answer = answer.unwrap_or_else(|e| {
        panic!(
            "no answer while 300 slow connections are held: {e}\n{}",
            server.stderr()
        )
    });
    assert_eq!(answer.status(), 200);
    drop(slow);
}

/// Sends `head` and then `body` on a keep-alive connection while reading the
/// response, as a client that does not wait for `100 Continue` would.
async fn send_and_read(
    addr: SocketAddr,
    head: String,
    body: Vec<u8>,
) -> (String, Vec<u8>, TcpStream) {
    let conn = connect(addr).await;
    let (mut reader, mut writer) = conn.into_split();
    let sender = tokio::spawn(async move {
        // The server may stop reading and close: write errors are expected.
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        writer
    });
    let (head, body) = read_response(&mut reader).await;
    let writer = sender.await.unwrap();
    (head, body, reader.reunite(writer).unwrap())
}

fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_sent_before_the_body_was_read_says_connection_close() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let big = vec![b'a'; 2 * 1024 * 1024];
    // The token endpoint's and a page's body limits, and a route that reads no body.
    for path in ["/token", "/login", "/no-such-page"] {
        let (head, _, mut conn) =
            send_and_read(app.addr, post_head(path, big.len()), big.clone()).await;
        assert!(head.starts_with("http/1.1 4"), "{path}: {head}");
        assert!(head.contains("\r\nconnection: close\r\n"), "{path}: {head}");
        assert!(
            closed_within(&mut conn, BOUND).await,
            "{path}: the server closes it"
        );
    }
    let (head, body, _) = send_and_read(app.addr, post_head("/token", big.len()), big).await;
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert_eq!(json["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_after_the_whole_body_was_read_keeps_the_connection_open() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let form = b"grant_type=password".to_vec();
    let (head, body, mut conn) =
        send_and_read(app.addr, post_head("/token", form.len()), form).await;
    assert!(!head.contains("connection: close"), "{head}");
    let json: Value = serde_json::from_slice(&body).unwrap();
    assert!(json["error"].is_string(), "{json}");
    conn.write_all(KEEP_ALIVE_GET).await.unwrap();
    let (head, body) = read_response(&mut conn).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(
        body, b"ok\n",
        "the second request on the connection is answered"
    );
}

/// A self-signed certificate for `localhost`: (PEM certificate, PEM key, DER certificate) paths.
fn self_signed(dir: &std::path::Path) -> (String, String, Vec<u8>) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let der = dir.join("cert.der");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (cert_s, key_s, der_s) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        der.to_str().unwrap(),
    );
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key_s,
        "-out",
        cert_s,
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "extendedKeyUsage=serverAuth",
    ]);
    run(&["x509", "-in", cert_s, "-outform", "DER", "-out", der_s]);
    (
        cert_s.to_owned(),
        key_s.to_owned(),
        std::fs::read(&der).unwrap(),
    )
}

async fn tls_connect(addr: SocketAddr, der: &[u8]) -> tokio_rustls::client::TlsStream<TcpStream> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, connect(addr).await)
        .await
        .expect("TLS handshake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_built_in_tls_the_same_timeouts_apply() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(certs.path());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("KAGI_TLS_CERT", &cert),
            ("KAGI_TLS_KEY", &key),
            ("KAGI_HEADER_READ_TIMEOUT_SECS", "1"),
            ("KAGI_KEEP_ALIVE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let mut idle = tls_connect(app.addr, &der).await;
    idle.write_all(KEEP_ALIVE_GET).await.unwrap();
    let (head, body) = read_response(&mut idle).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"ok\n");
    let mut half = tls_connect(app.addr, &der).await;
    half.write_all(HALF_SENT).await.unwrap();
    half.flush().await.unwrap();
    let mut silent = connect(app.addr).await;

    assert!(
        closed_within(&mut idle, BOUND).await,
        "an idle TLS keep-alive connection is closed"
    );
    assert!(
        closed_within(&mut half, BOUND).await,
        "a half-sent header over TLS is cut off"
    );
    assert!(
        closed_within(&mut silent, BOUND).await,
        "a connection that never starts TLS is closed"
    );
}

/// A PostgreSQL-backed app that reaches its database through a [`DbProxy`],
/// with a logged-in customer and a confidential client holding tokens.
struct BehindProxy {
    app: TestApp,
    proxy: DbProxy,
    rp: Rp,
    tokens: Value,
}

async fn behind_proxy(extra: &[(&str, &str)]) -> BehindProxy {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let db = Arc::new(TestDatabase::create(Backend::Postgres, dir.path()).await);
    let url = url::Url::parse(&db.url).unwrap();
    let upstream = tokio::net::lookup_host((url.host_str().unwrap(), url.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = DbProxy::start(upstream).await;
    let proxied = proxy.url_for(&db.url);
    let mut settings = vec![("KAGI_DATABASE_URL", proxied.as_str())];
    settings.extend_from_slice(extra);
    let app = TestApp::spawn_on(db, dir, &settings).await;
    app.customer().create().await;
    let done = app
        .log_in_with_email_code("C0001234", "correct horse battery", "taro@example.jp")
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    let rp = app.register_client("trading", "https://rp.example.com/cb", &[]);
    let tokens = app.code_flow(&rp, &[]).await.json;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    BehindProxy {
        app,
        proxy,
        rp,
        tokens,
    }
}

impl BehindProxy {
    /// POSTs `form` to `path` with the client's HTTP Basic credentials.
    async fn back_channel(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.app.url(path))
            .basic_auth(&self.rp.client_id, self.rp.secret.as_deref())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    fn token(&self, name: &str) -> &str {
        self.tokens[name].as_str().unwrap()
    }
}

/// Asserts a 503 `temporarily_unavailable` JSON answer with `Retry-After`.
async fn assert_oauth_unavailable(what: &str, response: reqwest::Response) {
    assert_eq!(response.status(), 503, "{what}");
    assert!(
        response.headers().get("retry-after").is_some(),
        "{what}: no Retry-After"
    );
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"], "temporarily_unavailable", "{what}: {json}");
}

/// Every way in that needs the database answers 503, promptly and in the
/// caller's format; the process itself stays alive.
async fn assert_unavailable(s: &BehindProxy) {
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", s.token("refresh_token")),
    ];
    assert_oauth_unavailable("token", s.back_channel("/token", &refresh).await).await;
    let token = [("token", s.token("refresh_token"))];
    assert_oauth_unavailable("introspect", s.back_channel("/introspect", &token).await).await;
    assert_oauth_unavailable("revoke", s.back_channel("/revoke", &token).await).await;
    let pushed = [
        ("response_type", "code"),
        ("redirect_uri", s.rp.redirect_uri.as_str()),
        ("scope", "openid"),
    ];
    assert_oauth_unavailable("par", s.back_channel("/par", &pushed).await).await;
    let userinfo = reqwest::Client::new()
        .get(s.app.url("/userinfo"))
        .bearer_auth(s.token("access_token"))
        .send()
        .await
        .unwrap();
    assert_oauth_unavailable("userinfo", userinfo).await;

    // Hosted pages: a 503 page in the customer's language, Japanese by default.
    let ja = kagi::templates::Lang::Ja;
    let en = kagi::templates::Lang::En;
    for (path, accept, lang) in [
        ("/login", None, ja),
        ("/login", Some("en-US,en;q=0.8"), en),
        ("/login?lang=en", None, en),
        ("/account", None, ja),
    ] {
        let mut request = reqwest::Client::new().get(s.app.url(path));
        if let Some(accept) = accept {
            request = request.header("accept-language", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 503, "{path} {accept:?}");
        assert!(response.headers().get("retry-after").is_some(), "{path}");
        let page = crate::helpers::browser::Page::from(response).await;
        assert!(
            page.shows(&s.app, lang, "error.unavailable"),
            "{path} {accept:?}: {}",
            page.html
        );
    }
    assert_eq!(s.app.get("/readyz").await.status(), 503);
    assert_eq!(s.app.get("/healthz").await.status(), 200);
}

/// Once the database is back, so is Kagi, and the tokens issued before the
/// outage still work (nothing was revoked or used up by the failed calls).
async fn assert_recovers(s: &BehindProxy) {
    let mut ready = false;
    for _ in 0..100 {
        if s.app.get("/readyz").await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz is 200 again");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", s.token("refresh_token")),
    ];
    let answer = s.back_channel("/token", &refresh).await;
    assert_eq!(answer.status(), 200);
    let fresh: Value = answer.json().await.unwrap();
    let (status, _, _) = s
        .app
        .userinfo(fresh["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let login = reqwest::get(s.app.url("/login")).await.unwrap();
    assert_eq!(login.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_refusing_connections_gives_503_with_retry_after_until_it_is_back() {
    let s = behind_proxy(&[("KAGI_DATABASE_ACQUIRE_TIMEOUT_SECS", "1")]).await;
    s.proxy.set(Fault::Refusing);
    assert_unavailable(&s).await;
    s.proxy.set(Fault::None);
    assert_recovers(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_gives_503_with_retry_after_until_it_is_back() {
    let s = behind_proxy(&[("KAGI_DATABASE_ACQUIRE_TIMEOUT_SECS", "1")]).await;
    s.proxy.set(Fault::Stalled);
    assert_unavailable(&s).await;
    s.proxy.set(Fault::None);
    assert_recovers(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_within_its_own_timeout_whatever_the_database_does() {
    // Requests would wait 30 s for a connection; the probe must not.
    let s = behind_proxy(&[
        ("KAGI_DATABASE_ACQUIRE_TIMEOUT_SECS", "30"),
        ("KAGI_READINESS_TIMEOUT_SECS", "1"),
    ])
    .await;
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .build()
        .unwrap();
    for fault in [Fault::Stalled, Fault::Refusing] {
        s.proxy.set(fault);
        let answer = probe.get(s.app.url("/readyz")).send().await;
        let answer = answer.unwrap_or_else(|e| panic!("{fault:?}: /readyz did not answer: {e}"));
        assert_eq!(answer.status(), 503, "{fault:?}");
    }
    s.proxy.set(Fault::None);
    assert_recovers(&s).await;
}
