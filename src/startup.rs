//! What `kagi serve` and `kagi config check` verify before serving, and how a
//! node waits for a database that is not up yet.
//!
//! Operators meet these first, so each message names the setting, its
//! environment variable and the fix. The folder checks run before anything
//! binds; the issuer checks only warn, because a proxy in front may well
//! publish another port than the one Kagi listens on. A PostgreSQL server
//! that does not answer yet is waited for with backoff while `/healthz`
//! answers and `/readyz` says 503 ([`crate::http::health::booting_router`]),
//! so a supervisor never sees a crash loop; an SQLite file that cannot be
//! opened is not transient and stops the start.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::clock::Clock;
use crate::config::{Config, redact_url};
use crate::state::AppState;

/// Longest wait between two attempts to reach the database at start.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// What must be fixed before Kagi can start: folders it cannot use.
///
/// With `create`, missing folders are created (as `serve` does) once every
/// folder has passed the check; without, only their nearest existing parent
/// is checked (`kagi config check` changes nothing on disk).
pub fn folder_problems(config: &Config, create: bool) -> Vec<String> {
    let problems = folders_checked(config, false);
    if problems.is_empty() && create {
        return folders_checked(config, true);
    }
    problems
}

fn folders_checked(config: &Config, create: bool) -> Vec<String> {
    let mut folders: Vec<(&str, PathBuf)> = vec![("keys_dir", config.keys_dir.clone())];
    if let Some(file) = config.sqlite_path() {
        if file.is_dir() {
            return vec![fix(
                "database_url",
                &format!("{} is a folder, not an SQLite file", file.display()),
                "name a file inside it, e.g. sqlite://data/kagi.db",
            )];
        }
        let parent = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        folders.push(("database_url", parent));
    }
    if config.smtp_url.is_none() {
        folders.push(("outbox_dir", config.outbox_dir.clone()));
    }
    folders
        .into_iter()
        .filter_map(|(setting, folder)| check_folder(setting, &folder, create).err())
        .collect()
}

/// Checks that `folder` is (or can become) a folder this process can read and write.
fn check_folder(setting: &str, folder: &Path, create: bool) -> Result<(), String> {
    if !folder.exists() {
        return missing_folder(setting, folder, create);
    }
    let shown = folder.display();
    if !folder.is_dir() {
        return Err(fix(
            setting,
            &format!("{shown} is a file, not a folder"),
            &format!(
                "point {} at a folder (it is created when missing)",
                env_name(setting)
            ),
        ));
    }
    let access = format!(
        "give the user running kagi read and write access to it (e.g. `chown -R \"$USER\" {shown}`), \
         or point {} at another folder",
        env_name(setting)
    );
    if let Err(e) = std::fs::read_dir(folder) {
        return Err(fix(
            setting,
            &format!("cannot read the folder {shown}: {e}"),
            &access,
        ));
    }
    let probe = folder.join(format!(".kagi-write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(fix(
            setting,
            &format!("cannot write in the folder {shown}: {e}"),
            &access,
        )),
    }
}

/// A folder that does not exist yet: created (`serve`), or its nearest
/// existing parent checked (`config check`).
fn missing_folder(setting: &str, folder: &Path, create: bool) -> Result<(), String> {
    let shown = folder.display();
    if create {
        return std::fs::create_dir_all(folder).map_err(|e| {
            fix(
                setting,
                &format!("cannot create the folder {shown}: {e}"),
                &format!(
                    "create it yourself (`mkdir -p {shown}`) with write access for the user \
                     running kagi, or point {} at a writable place",
                    env_name(setting)
                ),
            )
        });
    }
    match folder.ancestors().skip(1).find(|p| p.exists()) {
        Some(p) if !p.as_os_str().is_empty() && !p.is_dir() => Err(fix(
            setting,
            &format!(
                "the folder {shown} cannot be created: {} is a file",
                p.display()
            ),
            &format!(
                "move that file away, or point {} at another place",
                env_name(setting)
            ),
        )),
        _ => Ok(()),
    }
}

/// Settings that work but probably not as meant; logged at start and shown by `kagi config check`.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let issuer = &config.issuer;
    let host = issuer.host_str().unwrap_or_default();
    let loopback_issuer = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let listen = config.listen;
    let issuer_port = issuer.port_or_known_default().unwrap_or_default();
    if loopback_issuer && issuer_port != listen.port() {
        let suggested = format!("{}://{host}:{}", issuer.scheme(), listen.port());
        out.push(format!(
            "`issuer` (KAGI_ISSUER) is {} but `listen` (KAGI_LISTEN) is {listen}: browsers and \
             relying parties sent to the issuer will not reach this server unless something \
             forwards port {issuer_port} to {}; set KAGI_ISSUER={suggested} or \
             KAGI_LISTEN={}",
            config.issuer_str(),
            listen.port(),
            SocketAddr::new(listen.ip(), issuer_port),
        ));
    } else if loopback_issuer && !listen.ip().is_loopback() && !listen.ip().is_unspecified() {
        out.push(format!(
            "`issuer` (KAGI_ISSUER) is {} on this machine but `listen` (KAGI_LISTEN) is {listen}, \
             which a browser on this machine reaches only by that address; listen on \
             127.0.0.1:{} or set KAGI_ISSUER to the address clients use",
            config.issuer_str(),
            listen.port(),
        ));
    }
    out
}

/// Builds the state, waiting for a PostgreSQL server that cannot be reached yet.
///
/// Each failed attempt is logged with the next delay (1 s, doubling, at most
/// [`MAX_RETRY_DELAY`]). An SQLite database, or a PostgreSQL error that is
/// not about reaching the server (a refused password, a failed migration), is
/// returned at once: waiting would not cure it.
pub(crate) async fn build_when_reachable(config: Config) -> anyhow::Result<AppState> {
    let mut delay = Duration::from_secs(1);
    let database = redact_url(secrecy::ExposeSecret::expose_secret(&config.database_url));
    for attempt in 1u32.. {
        match crate::build(config.clone(), Clock::system()).await {
            Ok(state) => {
                if attempt > 1 {
                    tracing::info!(database = %database, attempt, "database reachable");
                }
                return Ok(state);
            }
            Err(e) if !config.database_is_sqlite && crate::store::is_unreachable(&e) => {
                tracing::warn!(
                    database = %database,
                    attempt,
                    retry_in_secs = delay.as_secs(),
                    error = format!("{e:#}"),
                    "database unreachable; retrying (/healthz answers, /readyz is 503 until it comes)"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the attempts never run out")
}

/// The small server that answers on the bound port while the node starts.
pub(crate) struct Booting {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Booting {
    /// Serves [`crate::http::health::booting_router`] on `listener` with the
    /// configured TLS and connection limits, as the real server will.
    pub(crate) async fn start(
        listener: std::net::TcpListener,
        config: &Config,
    ) -> anyhow::Result<Self> {
        let tls = match &config.tls {
            Some((cert, key)) => Some(crate::http::server::load_tls(cert, key).await?),
            None => None,
        };
        let limits = crate::http::server::Limits::from_config(config);
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = crate::http::health::booting_router();
        let task = tokio::spawn(async move {
            crate::http::server::serve(listener, router, tls, limits, async {
                let _ = stopped.await;
            })
            .await
            .context("start-up server failed")
        });
        Ok(Self { stop, task })
    }

    /// Stops accepting and lets in-flight answers finish; the port stays bound
    /// through the other handle, so connections made meanwhile wait in its queue.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(crate::http::server::DRAIN, self.task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = format!("{e:#}"), "start-up server failed"),
            Ok(_) => {}
            Err(_) => tracing::warn!("start-up server did not stop within its drain time"),
        }
    }
}

fn env_name(setting: &str) -> String {
    format!("KAGI_{}", setting.to_ascii_uppercase())
}

fn fix(setting: &str, problem: &str, remedy: &str) -> String {
    format!("`{setting}` ({}): {problem}; {remedy}", env_name(setting))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::for_tests(vars)
    }

    #[test]
    fn an_issuer_port_other_than_the_listen_port_on_localhost_is_warned_about() {
        let warned = warnings(&config(&[("KAGI_LISTEN", "127.0.0.1:9090")]));
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(
            warned[0].contains("KAGI_ISSUER=http://localhost:9090"),
            "{warned:?}"
        );
        assert!(
            warned[0].contains("KAGI_LISTEN=127.0.0.1:8080"),
            "{warned:?}"
        );
        assert!(warnings(&config(&[])).is_empty());
        // Behind a proxy the ports differ on purpose: a public issuer is not checked.
        let public = config(&[
            ("KAGI_ISSUER", "https://id.broker.example"),
            ("KAGI_LISTEN", "127.0.0.1:8080"),
        ]);
        assert!(warnings(&public).is_empty());
    }

    #[test]
    fn a_keys_folder_that_is_a_file_is_named_with_its_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "not a folder").unwrap();
        let c = config(&[
            ("KAGI_KEYS_DIR", file.to_str().unwrap()),
            (
                "KAGI_DATABASE_URL",
                &format!("sqlite://{}/kagi.db", dir.path().display()),
            ),
            (
                "KAGI_OUTBOX_DIR",
                dir.path().join("outbox").to_str().unwrap(),
            ),
        ]);
        for create in [false, true] {
            let problems = folder_problems(&c, create);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains("KAGI_KEYS_DIR") && problems[0].contains("is a file"),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn missing_folders_are_created_by_serve_and_only_checked_by_config_check() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("a/b/keys");
        let db = dir.path().join("c/d/kagi.db");
        let c = config(&[
            ("KAGI_KEYS_DIR", keys.to_str().unwrap()),
            ("KAGI_DATABASE_URL", &format!("sqlite://{}", db.display())),
            (
                "KAGI_OUTBOX_DIR",
                dir.path().join("outbox").to_str().unwrap(),
            ),
        ]);
        assert!(folder_problems(&c, false).is_empty());
        assert!(!keys.exists());
        assert!(folder_problems(&c, true).is_empty());
        assert!(keys.is_dir() && db.parent().unwrap().is_dir());
    }

    #[test]
    fn a_database_folder_that_cannot_be_created_says_how_to_make_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("var"), "a file in the way").unwrap();
        let with_database = |url: &str| {
            config(&[
                ("KAGI_KEYS_DIR", dir.path().join("keys").to_str().unwrap()),
                ("KAGI_DATABASE_URL", url),
                (
                    "KAGI_OUTBOX_DIR",
                    dir.path().join("outbox").to_str().unwrap(),
                ),
            ])
        };
        let blocked = with_database(&format!(
            "sqlite://{}/var/lib/kagi.db",
            dir.path().display()
        ));
        let problems = folder_problems(&blocked, true);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("KAGI_DATABASE_URL") && problems[0].contains("is a file"),
            "{problems:?}"
        );
        // Even root cannot make folders in /proc: the failure names the command to run.
        let refused = with_database("sqlite:///proc/kagi-test-no-such-folder/kagi.db");
        let problems = folder_problems(&refused, true);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("KAGI_DATABASE_URL")
                && problems[0].contains("mkdir -p /proc/kagi-test-no-such-folder"),
            "{problems:?}"
        );
    }
}
