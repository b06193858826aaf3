//! Starting Kagi the way an operator does: the `kagi` binary with only
//! environment variables, on database URLs of every form, with
//! `kagi config check|example`, a PostgreSQL server that is not up yet, and
//! settings that cannot work.

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{Backend, CliOutput, TestDatabase, run_cli};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Runs `kagi` with exactly `vars` (plus PATH) in the folder `cwd`.
fn kagi_in(cwd: &Path, vars: &[(&str, &str)], args: &[&str]) -> CliOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kagi"));
    cmd.args(args).current_dir(cwd).env_clear();
    if let Ok(p) = std::env::var("PATH") {
        cmd.env("PATH", p);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("kagi runs");
    CliOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn every_sqlite_url_form_creates_its_file_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let absolute = dir.path().join("var/lib/kagi/kagi.db");
    // The form from the operations guide that used to fail with SQLite's
    // "(code: 14) unable to open database file".
    let cases = [
        (format!("sqlite://{}", absolute.display()), absolute.clone()),
        (
            "sqlite:relative/kagi.db".to_owned(),
            dir.path().join("relative/kagi.db"),
        ),
        (
            "sqlite://nested/deeper/kagi.db".to_owned(),
            dir.path().join("nested/deeper/kagi.db"),
        ),
    ];
    assert!(cases[0].0.starts_with("sqlite:///"), "{}", cases[0].0);
    for (url, file) in &cases {
        let out = kagi_in(
            dir.path(),
            &[("KAGI_DATABASE_URL", url)],
            &["--json", "migrate"],
        );
        assert!(out.success, "{url}: {out:?}");
        assert_eq!(out.json()["backend"], "sqlite");
        assert!(file.is_file(), "{url} made no file at {}", file.display());
    }
}

#[test]
fn an_in_memory_database_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["sqlite::memory:", "sqlite://?mode=memory"] {
        let out = kagi_in(
            dir.path(),
            &[("KAGI_DATABASE_URL", url)],
            &["--json", "migrate"],
        );
        assert!(!out.success, "{url} was accepted: {out:?}");
        let error = out.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains("KAGI_DATABASE_URL") && error.contains("in-memory"),
            "{error}"
        );
        assert!(
            error.contains("separate processes"),
            "the reason is given: {error}"
        );
    }
}

#[test]
fn a_database_folder_that_cannot_be_created_says_how_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("var"), "a file where a folder should be").unwrap();
    let blocked = format!("sqlite://{}/var/lib/kagi/kagi.db", dir.path().display());
    // Even root cannot make folders in /proc.
    let refused = "sqlite:///proc/kagi-test-no-such-folder/kagi.db".to_owned();
    let keys = dir.path().join("keys");
    for (url, fix) in [
        (blocked, "move that file away"),
        (refused, "mkdir -p /proc/kagi-test-no-such-folder"),
    ] {
        let vars = [
            ("KAGI_DATABASE_URL", url.as_str()),
            ("KAGI_KEYS_DIR", keys.to_str().unwrap()),
            ("KAGI_LISTEN", "127.0.0.1:0"),
        ];
        let out = kagi_in(dir.path(), &vars, &["serve"]);
        assert!(!out.success, "{out:?}");
        assert!(
            out.stderr.contains("`database_url` (KAGI_DATABASE_URL)"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains(fix), "{url}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn config_check_shows_every_setting_with_its_source_and_hides_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kagi.toml");
    std::fs::write(
        &file,
        "max_passkeys = 2\nmail_from = \"Broker <no-reply@broker.example>\"\n",
    )
    .unwrap();
    let (keys, outbox) = (dir.path().join("keys"), dir.path().join("outbox"));
    let vars = [
        ("KAGI_CONFIG", file.to_str().unwrap()),
        ("KAGI_MAX_PASSKEYS", "3"),
        (
            "KAGI_DATABASE_URL",
            "postgres://kagi:hunter2@db.internal/kagi",
        ),
        ("KAGI_KEYS_DIR", keys.to_str().unwrap()),
        ("KAGI_OUTBOX_DIR", outbox.to_str().unwrap()),
    ];
    let out = kagi_in(dir.path(), &vars, &["--json", "config", "check"]);
    assert!(out.success, "{out:?}");
    assert!(
        !out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"),
        "{out:?}"
    );
    let json = out.json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["config_file"], file.to_str().unwrap());
    let settings = &json["settings"];
    assert_eq!(settings["max_passkeys"]["value"], 3);
    assert_eq!(settings["max_passkeys"]["source"], "environment");
    assert_eq!(settings["mail_from"]["source"], "file");
    assert_eq!(settings["issuer"]["source"], "default");
    assert_eq!(settings["issuer"]["value"], "http://localhost:8080");
    assert_eq!(
        settings["database_url"]["value"],
        "postgres://kagi:***@db.internal/kagi"
    );
    assert_eq!(settings["smtp_url"]["value"], serde_json::Value::Null);
    assert_eq!(settings["webauthn_rp_id"]["env"], "KAGI_WEBAUTHN_RP_ID");
    let every: Vec<&str> = kagi::config::SETTINGS.iter().map(|s| s.key).collect();
    assert_eq!(settings.as_object().unwrap().len(), every.len());

    let text = kagi_in(dir.path(), &vars, &["config", "check"]);
    assert!(text.success, "{text:?}");
    assert!(
        text.stdout
            .contains("max_passkeys = 3  # environment: KAGI_MAX_PASSKEYS"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("mail_from = \"Broker <no-reply@broker.example>\"  # file"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("# smtp_url is unset  # default"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("hunter2"), "{}", text.stdout);
}

#[test]
fn config_check_refuses_what_serve_would_refuse_and_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_folder = dir.path().join("keys");
    std::fs::write(&not_a_folder, "").unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (
            &[
                ("KAGI_ISSUER", "https://id.broker.example"),
                ("KAGI_WEBAUTHN_RP_ID", "broker.test"),
            ],
            "KAGI_WEBAUTHN_RP_ID",
            "unset it",
        ),
        (
            &[("KAGI_KEYS_DIR", not_a_folder.to_str().unwrap())],
            "KAGI_KEYS_DIR",
            "point KAGI_KEYS_DIR at a folder",
        ),
        (
            &[("KAGI_DATABASE_URL", "sqlite::memory:")],
            "KAGI_DATABASE_URL",
            "in-memory",
        ),
    ];
    for (vars, setting, fix) in cases {
        let out = kagi_in(dir.path(), vars, &["--json", "config", "check"]);
        assert!(!out.success, "{vars:?} passed: {out:?}");
        let json = out.json();
        assert_eq!(json["valid"], false);
        let error = json["error"].as_str().unwrap();
        assert!(
            error.contains(setting) && error.contains(fix),
            "{vars:?}: {error}"
        );
        assert!(out.stderr.contains(setting), "{}", out.stderr);
    }
}

#[test]
fn config_check_warns_when_the_issuer_names_another_port_than_the_server_listens_on() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("KAGI_LISTEN", "127.0.0.1:9090"), ("KAGI_KEYS_DIR", "keys")];
    let out = kagi_in(dir.path(), &vars, &["--json", "config", "check"]);
    assert!(out.success, "a warning is not an error: {out:?}");
    let warnings = out.json()["warnings"].as_array().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.contains("KAGI_ISSUER=http://localhost:9090"),
        "{warning}"
    );
    assert!(warning.contains("KAGI_LISTEN=127.0.0.1:8080"), "{warning}");
}

#[test]
fn config_example_prints_the_sample_file_in_the_repository() {
    let out = run_cli(&[], &["config", "example"], None);
    assert!(out.success, "{out:?}");
    let file =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/kagi.example.toml")).unwrap();
    assert_eq!(
        out.stdout, file,
        "regenerate with `cargo run -- config example > kagi.example.toml`"
    );
}

#[test]
fn a_keys_folder_that_is_a_file_stops_serve_before_it_binds() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://localhost:{port}");
    let vars = [
        ("KAGI_KEYS_DIR", keys.to_str().unwrap()),
        ("KAGI_LISTEN", listen.as_str()),
        ("KAGI_ISSUER", issuer.as_str()),
    ];
    let out = kagi_in(dir.path(), &vars, &["serve"]);
    assert!(!out.success, "{out:?}");
    assert!(
        out.stderr.contains("`keys_dir` (KAGI_KEYS_DIR)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("is a file, not a folder"),
        "{}",
        out.stderr
    );
    assert!(
        !dir.path().join("data").exists(),
        "stopped before opening the database"
    );
}

/// A `kagi serve` child process, killed when dropped, whose stderr is collected.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(vars: &[(String, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kagi"));
        cmd.arg("serve")
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("kagi serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 100 ms, at most `tries` times.
async fn eventually(tries: u32, mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Forwards every connection on `listener` to `target` (a PostgreSQL server coming up).
fn forward(listener: tokio::net::TcpListener, target: String) {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_waits_for_an_unreachable_postgres_answering_health_and_becomes_ready_when_it_comes()
{
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(Backend::Postgres, dir.path()).await;
    let real = url::Url::parse(&db.url).unwrap();
    let target = format!(
        "{}:{}",
        real.host_str().unwrap(),
        real.port().unwrap_or(5432)
    );
    // A port where nothing listens yet; the forwarder takes it later.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let db_port = free.local_addr().unwrap().port();
    drop(free);
    let mut unreachable = real.clone();
    unreachable.set_host(Some("127.0.0.1")).unwrap();
    unreachable.set_port(Some(db_port)).unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = web.local_addr().unwrap().port();
    drop(web);
    let vars = env(&[
        ("KAGI_DATABASE_URL", unreachable.as_str()),
        ("KAGI_LISTEN", &format!("127.0.0.1:{port}")),
        ("KAGI_ISSUER", &format!("http://localhost:{port}")),
        ("KAGI_KEYS_DIR", dir.path().join("keys").to_str().unwrap()),
        (
            "KAGI_OUTBOX_DIR",
            dir.path().join("outbox").to_str().unwrap(),
        ),
    ]);
    let mut server = Server::start(&vars);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let status = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}{path}"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        }
    };

    assert!(
        eventually(200, async || status("/healthz").await == Some(200)).await,
        "/healthz never answered while the database was down: {}",
        server.log()
    );
    assert_eq!(status("/readyz").await, Some(503));
    assert_eq!(status("/.well-known/openid-configuration").await, Some(503));
    assert!(
        eventually(600, async || server
            .log()
            .contains("database unreachable; retrying"))
        .await,
        "no retry was logged: {}",
        server.log()
    );
    assert!(server.alive(), "kagi exited: {}", server.log());
    assert_eq!(status("/readyz").await, Some(503));

    // PostgreSQL "comes up" on the configured port.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", db_port))
        .await
        .unwrap();
    forward(listener, target);
    assert!(
        eventually(900, async || status("/readyz").await == Some(200)).await,
        "never became ready: {}",
        server.log()
    );
    assert_eq!(status("/.well-known/openid-configuration").await, Some(200));
    assert!(
        server.log().contains("database reachable"),
        "{}",
        server.log()
    );
    assert!(server.alive());
    drop(server);
}
