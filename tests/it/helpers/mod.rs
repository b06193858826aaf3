//! The test harness: [`TestApp`] spawns Kagi on `127.0.0.1:0` against a fresh
//! database, with a manual clock and a cookie-keeping HTTP client.

// expect() would fail once every part is used.
#![allow(dead_code, reason = "each test uses a different part of the harness")]

pub mod authenticator;
pub mod browser;
pub mod customer;
mod database;
pub mod dpop;
pub mod proxy;
pub mod rp;
pub mod smtp;
pub mod webdriver;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kagi::clock::Clock;
use kagi::config::Config;
use kagi::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use database::{Backend, TestDatabase};

/// Runs each named test once per backend.
///
/// Write the test as a plain `async fn` taking the [`Backend`], then list it:
///
/// ```ignore
/// async fn a_spent_code_is_refused(backend: Backend) {
///     let app = TestApp::spawn(backend).await;
///     // ...
/// }
///
/// both_backends!(a_spent_code_is_refused, another_test);
/// ```
///
/// Each name becomes a module holding the tests `sqlite` and `postgres`, so a
/// test's path is `<file>::<name>::sqlite` (docs and CI filters rely on it).
/// The functions stay outside the macro so that rustfmt formats them; one that
/// is not listed never runs, and the `dead_code` lint says so. (A test in the
/// old form, `both_backends! { async fn name(backend) { ... } }`, converts by
/// moving the fn out, typing `backend: Backend` and listing `name`.)
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )+
    };
}

/// A running Kagi with its own database, keys folder and clock.
pub struct TestApp {
    /// `http://localhost:PORT`, also the issuer.
    pub base: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// Cookie-keeping client that does not follow redirects.
    pub http: reqwest::Client,
    /// The server's state (store, keys, config).
    pub state: AppState,
    /// The server's clock; [`Clock::advance`] moves it.
    pub clock: Clock,
    /// The environment the server was configured with, for CLI runs.
    pub env: Vec<(String, String)>,
    /// Temporary folder holding keys, outbox and (SQLite) the database.
    pub dir: std::sync::Arc<tempfile::TempDir>,
    /// The database; dropped (PostgreSQL) when the last holder goes.
    pub db: std::sync::Arc<TestDatabase>,
    /// The real SMTP server Kagi sends mail to.
    pub smtp: std::sync::Arc<smtp::SmtpServer>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Spawns Kagi on a new database of `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Spawns Kagi on a new database with extra `KAGI_*` settings.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let db = std::sync::Arc::new(TestDatabase::create(backend, dir.path()).await);
        Self::spawn_on(db, dir, extra).await
    }

    /// Spawns Kagi on an existing database and folder (a restart, or a second node).
    pub async fn spawn_on(
        db: std::sync::Arc<TestDatabase>,
        dir: std::sync::Arc<tempfile::TempDir>,
        extra: &[(&str, &str)],
    ) -> Self {
        let smtp = std::sync::Arc::new(smtp::SmtpServer::start().await);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://localhost:{}", addr.port());
        let mut env = vec![
            ("KAGI_ISSUER".to_owned(), base.clone()),
            ("KAGI_LISTEN".to_owned(), addr.to_string()),
            ("KAGI_DATABASE_URL".to_owned(), db.url.clone()),
            ("KAGI_DATABASE_MAX_CONNECTIONS".to_owned(), "4".to_owned()),
            ("KAGI_KEYS_DIR".to_owned(), path(dir.path().join("keys"))),
            (
                "KAGI_OUTBOX_DIR".to_owned(),
                path(dir.path().join("outbox")),
            ),
            ("KAGI_SMTP_URL".to_owned(), smtp.url()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        let config = Config::from_sources(env.clone()).expect("test config is valid");
        let clock = Clock::manual_at_now();
        let state = kagi::build(config, clock.clone())
            .await
            .expect("kagi builds");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(kagi::run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", addr)
            .build()
            .expect("http client");
        Self {
            base,
            addr,
            http,
            state,
            clock,
            env,
            dir,
            db,
            smtp,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// Stops the server gracefully and closes its pool; the database and folder stay.
    pub async fn stop(
        mut self,
    ) -> (
        std::sync::Arc<TestDatabase>,
        std::sync::Arc<tempfile::TempDir>,
    ) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
        self.state.store.close().await;
        (self.db.clone(), self.dir.clone())
    }

    /// Runs the `kagi` binary against this app's database and keys.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_cli(&self.env, args, stdin)
    }
}

/// What a CLI run printed and how it ended.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit status was 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Standard output parsed as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the `kagi` binary with exactly `env` (plus PATH), `args` and `stdin`.
pub fn run_cli(env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> CliOutput {
    use std::io::Write as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kagi"));
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(p) = std::env::var("PATH") {
        cmd.env("PATH", p);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("kagi binary runs");
    if let (Some(mut pipe), Some(text)) = (child.stdin.take(), stdin) {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("kagi binary finishes");
    CliOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn path(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}
