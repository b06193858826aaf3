//! An HTTP fuzzer of our own: the real `kagi` binary, as a separate process,
//! takes a bounded number of seeded random requests over every endpoint,
//! with and without a logged-in session, and must answer each one without a
//! 5xx, without a panic and without its memory running away.
//!
//! The seed is `KAGI_FUZZ_SEED` (a number) or a fixed default, and the
//! request count `KAGI_FUZZ_REQUESTS` (at least the default 10,000 in CI);
//! a failure prints the seed and the request that broke, so it replays.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::both_backends;
use crate::helpers::browser::{attribute_after, six_digits};
use crate::helpers::customer::{EMAIL, PASSWORD};
use crate::helpers::smtp::SmtpServer;
use crate::helpers::{Backend, TestDatabase};

both_backends!(ten_thousand_seeded_random_requests_get_no_5xx_no_panic_and_bounded_memory);

const DEFAULT_SEED: u64 = 0x6b61_6769_2d66_757a;
const DEFAULT_REQUESTS: usize = 10_000;
const WORKERS: usize = 8;
/// Peak resident memory the server may reach over the whole run. Measured
/// at about 60 MiB for the debug build (two argon2id threads at 19 MiB each
/// included); the bound leaves room without letting a leak or an unbounded
/// queue of hashes through.
const PEAK_RSS_LIMIT_KIB: u64 = 128 * 1024;

/// splitmix64: small, seedable, and good enough to pick fuzz inputs.
#[derive(Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const PATHS: &[&str] = &[
    "/.well-known/openid-configuration",
    "/jwks",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/kagi.css",
    "/static/kagi.js",
    "/static/../Cargo.toml",
    "/favicon.ico",
    "/authorize",
    "/authorize/continue",
    "/authorize/consent",
    "/authorize/decline",
    "/authorize/cancel",
    "/token",
    "/userinfo",
    "/par",
    "/revoke",
    "/introspect",
    "/session/end",
    "/session/end/confirm",
    "/login",
    "/login/email",
    "/login/code",
    "/login/totp",
    "/stepup",
    "/stepup/passkey",
    "/account",
    "/account/sessions/end",
    "/account/sessions/end-others",
    "/account/totp/start",
    "/account/totp",
    "/account/totp/confirm",
    "/account/passkeys/register",
    "/account/passkeys/confirm",
    "/account/passkeys/rename",
    "/account/passkeys/delete",
    "/passkey/login/start",
    "/passkey/login/finish",
    "/passkey/stepup/start",
    "/passkey/stepup/finish",
    "/passkey/confirm/start",
    "/passkey/confirm/finish",
    "/logout",
    "/nowhere",
    "//evil.example/x",
    "/%2e%2e/%2e%2e/etc/passwd",
];

const NAMES: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "ui_locales",
    "claims",
    "acr_values",
    "login_hint",
    "id_token_hint",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "request",
    "request_uri",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "access_token",
    "post_logout_redirect_uri",
    "customer_code",
    "password",
    "return_to",
    "email_index",
    "csrf",
    "sid",
    "nickname",
    "credential_id",
    "ceremony",
    "request",
    "authorization_details",
];

fn value(rng: &mut Rng, csrf: &str) -> String {
    const FIXED: &[&str] = &[
        "",
        "web",
        "native",
        "http://localhost:9/callback",
        "http://127.0.0.1/callback",
        "code",
        "token id_token",
        "openid",
        "openid profile email offline_access",
        "none",
        "login consent",
        "0",
        "-1",
        "99999999999999999999999",
        "ja",
        "en-US fr",
        "phr",
        "urn:kagi:acr:mfa",
        "S256",
        "plain",
        "form_post",
        "fragment",
        "authorization_code",
        "refresh_token",
        r#"[{"type":"withdrawal","amount":{"currency":"JPY","value":"100"},"destination":{"bank":"B","account":"****1"}}]"#,
        r#"[{"type":"order","quantity":1e999}]"#,
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]",
        "password",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "urn:ietf:params:oauth:request_uri:abc",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.c2ln",
        r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#,
        r#"{"id_token":{"acr":{"essential":"yes","values":7}}}"#,
        r#"{"userinfo":[1,2,3]}"#,
        "{",
        "null",
        "C0001234",
        PASSWORD,
        "000000",
        "123456",
        "/account",
        "/\t/evil.example",
        "//evil.example",
        "https://evil.example",
        "%00%ff%fe",
        "\u{0}\u{1}\r\n",
        "日本語のテキスト",
        "\u{202e}\u{fe0f}",
        "a=b&c=d",
    ];
    match rng.below(6) {
        0 => "x".repeat(rng.below(5000)),
        1 => csrf.to_owned(),
        2 => (0..rng.below(40))
            .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
            .collect(),
        _ => (*rng.pick(FIXED)).to_owned(),
    }
}

fn params(rng: &mut Rng, csrf: &str) -> Vec<(String, String)> {
    let n = rng.below(8);
    let mut out: Vec<(String, String)> = (0..n)
        .map(|_| ((*rng.pick(NAMES)).to_owned(), value(rng, csrf)))
        .collect();
    if rng.chance(10) && !out.is_empty() {
        // The same parameter twice.
        let dup = out[0].clone();
        out.push(dup);
    }
    out
}

fn body(rng: &mut Rng, form: &[(String, String)]) -> (Option<&'static str>, Vec<u8>) {
    match rng.below(8) {
        0 => (
            Some("application/json"),
            b"{\"credential\":{\"id\":1},\"ceremony\":[]}".to_vec(),
        ),
        1 => (
            Some("application/json"),
            (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        ),
        2 => (
            Some("text/plain"),
            b"grant_type=authorization_code".to_vec(),
        ),
        3 => (
            None,
            (0..rng.below(100)).map(|_| rng.next() as u8).collect(),
        ),
        4 => (
            Some("application/x-www-form-urlencoded"),
            b"a=%zz&b=%&&=&c".to_vec(),
        ),
        5 => (
            Some("multipart/form-data; boundary=x"),
            b"--x\r\n\r\n".to_vec(),
        ),
        _ => (
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            serde_urlencoded::to_string(form).unwrap().into_bytes(),
        ),
    }
}

fn header(rng: &mut Rng) -> Option<(&'static str, String)> {
    Some(match rng.below(10) {
        0 => ("authorization", "Basic !!!not-base64".to_owned()),
        1 => ("authorization", "Basic d2ViOg==".to_owned()),
        2 => (
            "authorization",
            format!("Bearer {}", "a".repeat(rng.below(3000))),
        ),
        3 => (
            "authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_owned(),
        ),
        4 => (
            "cookie",
            "__Host-kagi_session=%%%; __Host-kagi_session=x".to_owned(),
        ),
        5 => ("accept-language", "xx;q=abc, *;q=0.5, en".to_owned()),
        6 => ("x-forwarded-for", "1.2.3.4, not-an-ip, ::1".to_owned()),
        7 => ("origin", "https://evil.example".to_owned()),
        _ => return None,
    })
}

/// Adds customer `C0001234` (password [`PASSWORD`], address [`EMAIL`]) through the CLI.
pub(crate) fn add_customer(server: &Server) {
    let args = [
        "--json",
        "user",
        "add",
        "--customer-code",
        "C0001234",
        "--name",
        "山田 太郎",
    ];
    let mut args = args.to_vec();
    args.extend(["--email", EMAIL, "--password-stdin"]);
    let add = crate::helpers::run_cli(&server.env, &args, Some(&format!("{PASSWORD}\n")));
    assert!(add.success, "{add:?}");
}

/// The real binary, serving on a free loopback port.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) log: std::path::PathBuf,
    pub(crate) base: String,
    pub(crate) env: Vec<(String, String)>,
}

impl Server {
    pub(crate) fn start(db: &TestDatabase, dir: &std::path::Path, smtp: &SmtpServer) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://localhost:{port}");
        let env = vec![
            ("KAGI_ISSUER".to_owned(), base.clone()),
            ("KAGI_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
            ("KAGI_DATABASE_URL".to_owned(), db.url.clone()),
            (
                "KAGI_KEYS_DIR".to_owned(),
                dir.join("keys").display().to_string(),
            ),
            (
                "KAGI_OUTBOX_DIR".to_owned(),
                dir.join("outbox").display().to_string(),
            ),
            ("KAGI_SMTP_URL".to_owned(), smtp.url()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
        ];
        let migrate = crate::helpers::run_cli(&env, &["migrate"], None);
        assert!(migrate.success, "{migrate:?}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kagi"));
        // A file, not a pipe: nobody reads a pipe while the fuzzer runs, and a
        // full one would stall the server.
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        cmd.arg("serve")
            .env_clear()
            .stdout(Stdio::null())
            .stderr(log);
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("kagi serve starts");
        Self {
            child,
            log: dir.join("server.log"),
            base,
            env,
        }
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client(cookies: bool, base: &str) -> reqwest::Client {
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn csrf_of(http: &reqwest::Client, base: &str) -> String {
    let html = http
        .get(format!("{base}/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    attribute_after(&html, "name=\"csrf\"", "value").unwrap_or_default()
}

/// Logs `http` in with password and email code; returns its CSRF token.
pub(crate) async fn log_in(http: &reqwest::Client, base: &str, smtp: &SmtpServer) -> String {
    let csrf = csrf_of(http, base).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("customer_code", "C0001234"),
        ("password", PASSWORD),
    ];
    let r = http
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let csrf = csrf_of(http, base).await;
    let r = http
        .post(format!("{base}/login/email"))
        .form(&[("csrf", csrf.as_str()), ("email_index", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let mail = smtp.wait_for(EMAIL, 1).await;
    let code = six_digits(&mail[0].body);
    let r = http
        .post(format!("{base}/login/code"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    csrf_of(http, base).await
}

pub(crate) async fn wait_ready(base: &str) {
    let http = client(false, base);
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("kagi did not become ready");
}

async fn fuzz(backend: Backend) {
    let seed = std::env::var("KAGI_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let total = std::env::var("KAGI_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(backend, dir.path()).await;
    let smtp = SmtpServer::start().await;
    let mut server = Server::start(&db, dir.path(), &smtp);
    wait_ready(&server.base).await;
    add_customer(&server);
    for (id, uri, extra) in [
        ("web", "http://localhost:9/callback", None),
        ("native", "http://127.0.0.1/callback", Some("--public")),
    ] {
        let mut args = vec![
            "--json",
            "client",
            "add",
            "--client-id",
            id,
            "--name",
            id,
            "--redirect-uri",
            uri,
            "--authorization-details-type",
            "withdrawal",
            "--authorization-details-type",
            "order",
        ];
        args.extend(extra);
        assert!(crate::helpers::run_cli(&server.env, &args, None).success);
    }
    let logged_in = client(true, &server.base);
    let csrf = log_in(&logged_in, &server.base, &smtp).await;
    let rss_before = server.status_kib("VmRSS:");

    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (base, csrf, failures, sent) = (
                server.base.clone(),
                csrf.clone(),
                failures.clone(),
                sent.clone(),
            );
            let (logged_in, anonymous) = (logged_in.clone(), client(false, &server.base));
            tokio::spawn(async move {
                let mut rng = Rng(seed ^ (w as u64).wrapping_mul(0x1000_0000_01b3));
                for i in 0..total / WORKERS {
                    let http = if rng.chance(50) {
                        &logged_in
                    } else {
                        &anonymous
                    };
                    let path = *rng.pick(PATHS);
                    let query = params(&mut rng, &csrf);
                    let form = params(&mut rng, &csrf);
                    let post = rng.chance(60);
                    let mut url = format!("{base}{path}");
                    if rng.chance(50) && !query.is_empty() {
                        url.push('?');
                        url.push_str(&serde_urlencoded::to_string(&query).unwrap());
                    }
                    if rng.chance(3) {
                        url.push_str("?%zz=%&&==");
                    }
                    let mut request = if post {
                        http.post(&url)
                    } else {
                        http.get(&url)
                    };
                    let (content_type, bytes) = body(&mut rng, &form);
                    if post {
                        if let Some(ct) = content_type {
                            request = request.header("content-type", ct);
                        }
                        request = request.body(bytes);
                    }
                    if let Some((name, value)) = header(&mut rng)
                        && let Ok(v) = reqwest::header::HeaderValue::from_str(&value)
                    {
                        request = request.header(name, v);
                    }
                    let described = format!(
                        "seed {seed} worker {w} request {i}: {} {url} {form:?}",
                        if post { "POST" } else { "GET" }
                    );
                    match request.send().await {
                        Ok(response) if response.status().is_server_error() => {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{} for {described}", response.status()));
                        }
                        Ok(response) => {
                            let _ = response.bytes().await;
                        }
                        Err(e) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{e} for {described}")),
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let peak = server.status_kib("VmHWM:");
    let rss_after = server.status_kib("VmRSS:");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed; first: {:#?}",
        failures.len(),
        sent.load(Ordering::Relaxed),
        &failures[..failures.len().min(10)]
    );
    assert!(sent.load(Ordering::Relaxed) >= total - WORKERS);
    eprintln!(
        "fuzz {backend:?}: {} requests, seed {seed}, RSS {rss_before} → {rss_after} KiB, peak {peak} KiB",
        sent.load(Ordering::Relaxed)
    );
    assert!(
        peak <= PEAK_RSS_LIMIT_KIB,
        "peak RSS {peak} KiB over {PEAK_RSS_LIMIT_KIB} KiB"
    );
    // The logged-in session still works: nothing the fuzzer sent broke the server's state.
    let account = logged_in
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 200);
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

async fn ten_thousand_seeded_random_requests_get_no_5xx_no_panic_and_bounded_memory(
    backend: Backend,
) {
    fuzz(backend).await;
}
