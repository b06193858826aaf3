//! All SQL lives here, written once for SQLite and PostgreSQL.
//!
//! One `AnyPool` serves both databases: queries use `$1, $2` placeholders,
//! which both accept, and only plain types (text, 64-bit integers) cross the
//! driver (`docs/architecture.md#storage-through-one-driver`). The one place the backends differ is the DDL,
//! kept in `migrations/sqlite/` and `migrations/postgres/` in lock-step, and the
//! SQLite connection set-up (WAL), both in this file.

pub(crate) mod audit;
pub(crate) mod auth_requests;
pub(crate) mod authorization_codes;
pub(crate) mod client_assertion_jtis;
pub(crate) mod clients;
pub(crate) mod consents;
pub mod customers;
pub(crate) mod dpop_jtis;
pub(crate) mod email_codes;
pub(crate) mod lockouts;
pub(crate) mod login_attempts;
pub(crate) mod passkeys;
pub(crate) mod purge;
pub(crate) mod session_clients;
pub mod sessions;
pub(crate) mod signing_keys;
pub(crate) mod token_families;
pub mod totp;
pub(crate) mod transaction_confirmations;
pub(crate) mod unit;
pub(crate) mod webauthn_ceremonies;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor as _, Transaction};

use crate::config::Config;
use crate::error::Error;

/// The database: a pool for reads, the pool every write goes through, and
/// which backend it talks to (docs/write-path.md).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    writer: AnyPool,
    backend: Backend,
    commits: Arc<AtomicU64>,
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Pool occupancy, for `/metrics`.
#[derive(Clone, Copy, Debug)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Configured upper bound.
    pub max: u32,
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL refuses text it cannot store (a NUL byte, SQLSTATE 22021)
        // where SQLite keeps it: a value of the input, not a failure of Kagi.
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("22021")
        {
            return Error::Invalid("the input holds a character that cannot be stored".into());
        }
        if unreachable(&e) {
            Error::Unavailable(e.into())
        } else {
            Error::Internal(e.into())
        }
    }
}

/// Whether `e` says the database cannot be reached or is overloaded right
/// now, rather than that the query or the data is wrong: the same call may
/// work later, so callers answer 503 instead of 500.
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        // No connection within the acquire timeout (refused, stalled or all
        // busy), the pool shutting down, or a connection that broke mid-query.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs (five characters) of class 08 (connection exception),
/// 53300 `too_many_connections` and 57P01–57P03 (shutdown, cannot connect
/// now); SQLite result codes (numbers) whose primary code is `SQLITE_BUSY`
/// (5) or `SQLITE_LOCKED` (6), left after the 5 s busy timeout.
fn transient_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03");
    }
    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

impl Store {
    /// Connects to the configured database, creating an SQLite file's folder when needed.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        Self::connect_url(
            config.database_url.expose_secret(),
            config.database_max_connections,
            config.database_acquire_timeout,
        )
        .await
    }

    /// Connects to `url` with at most `max` pooled connections, for which a
    /// caller waits at most `acquire_timeout` (then gets [`Error::Unavailable`]).
    pub async fn connect_url(
        url: &str,
        max: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options = AnyPoolOptions::new().acquire_timeout(acquire_timeout);
        if backend == Backend::Postgres {
            // PostgreSQL has row locks and many writers: one pool serves both.
            let pool = options
                .max_connections(max)
                .connect(url)
                .await
                .with_context(|| format!("cannot open database {}", redact(url)))?;
            return Ok(Self::new(pool.clone(), pool, backend));
        }
        create_sqlite_folder(url)?;
        // A pool pings each connection before lending it, to catch one the
        // server dropped. An SQLite connection is a file handle in this
        // process that no server can drop, and each ping is a round trip to
        // the connection's worker thread: two context switches per acquire,
        // the largest cost of a code flow in the profile (docs/write-path.md).
        let options = options.test_before_acquire(false);
        // SQLite has one writer per database: one dedicated writer connection
        // queues the writers in the pool (fairly, bounded by the acquire
        // timeout) instead of letting pooled connections fight for the lock
        // in the busy handler. Readers run beside it under WAL.
        let writer = sqlite_options(options.clone().max_connections(1), false)
            .connect(url)
            .await
            .with_context(|| format!("cannot open database {}", redact(url)))?;
        if url.contains(":memory:") {
            // Every connection to `:memory:` is a database of its own.
            return Ok(Self::new(writer.clone(), writer, backend));
        }
        let readers = sqlite_options(options.max_connections(max), true)
            .connect(url)
            .await
            .with_context(|| format!("cannot open database {}", redact(url)))?;
        Ok(Self::new(readers, writer, backend))
    }

    fn new(pool: AnyPool, writer: AnyPool, backend: Backend) -> Self {
        Self {
            pool,
            writer,
            backend,
            commits: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Applies pending migrations of this backend's folder.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator
            .run(&self.writer)
            .await
            .context("database migration failed")?;
        Ok(())
    }

    /// Checks the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Which backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Current pool occupancy.
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Closes every connection (tests and shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// Write transactions and self-committing write statements sent so far
    /// by this store (and its clones): what one request costs the writer,
    /// for tests and `docs/write-path.md`.
    pub fn write_commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// The pool for reads outside a transaction.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The writer pool for one self-committing write statement, counted as one commit.
    pub(crate) fn autocommit(&self) -> &AnyPool {
        self.commits.fetch_add(1, Ordering::Relaxed);
        &self.writer
    }

    /// Opens a write transaction on the writer pool; end it with [`Store::commit`].
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, Error> {
        Ok(self.writer.begin().await?)
    }

    /// Commits a write transaction opened by [`Store::begin_write`] and counts it.
    pub(crate) async fn commit(&self, tx: Transaction<'static, Any>) -> Result<(), Error> {
        tx.commit().await?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The SQLite connection set-up; `read_only` for the readers' pool.
///
/// WAL lets readers run beside the one writer; sqlx leaves `journal_mode`
/// alone and sets `busy_timeout` to 5 s, which absorbs writes of other
/// processes (the CLI). `synchronous=NORMAL` is the WAL setting SQLite
/// recommends: the database cannot be corrupted, and only the last commits
/// before a power cut (not a process crash) can be lost; FULL fsynced every
/// commit and was the largest cost of a code flow (benches/run). A reader
/// connection is `query_only`, so a write sent to the wrong pool fails at
/// once instead of contending with the writer.
///
/// Each connection has a page cache of its own, so its size is set here
/// rather than left to the default of about 2 MiB per connection (16 readers
/// could hold 32 MiB): the writer keeps [`WRITER_CACHE_KIB`], a reader
/// [`READER_CACHE_KIB`]. The operating system's file cache still holds the
/// database for every connection; these caches only spare it a copy.
fn sqlite_options(options: AnyPoolOptions, read_only: bool) -> AnyPoolOptions {
    options.after_connect(move |conn, _meta| {
        Box::pin(async move {
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.execute("PRAGMA synchronous = NORMAL").await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            if read_only {
                conn.execute("PRAGMA query_only = ON").await?;
            }
            let kib = if read_only {
                READER_CACHE_KIB
            } else {
                WRITER_CACHE_KIB
            };
            // A negative cache_size is a size in KiB; the number is ours, not input.
            let pragma = format!("PRAGMA cache_size = -{kib}");
            conn.execute(sqlx::AssertSqlSafe(pragma)).await?;
            Ok(())
        })
    })
}

/// Page cache of the SQLite writer connection, KiB (docs/write-path.md).
pub const WRITER_CACHE_KIB: u32 = 2048;
/// Page cache of each SQLite reader connection, KiB.
pub const READER_CACHE_KIB: u32 = 512;

/// `sqlite://data/kagi.db?mode=rwc` → make sure `data/` exists.
fn create_sqlite_folder(url: &str) -> anyhow::Result<()> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") || path.starts_with("file:") {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create database folder {}", parent.display()))?;
    }
    Ok(())
}

/// Whether `e` says the database server could not be reached.
///
/// Connection refused or timed out, a TLS failure, the server still starting
/// up: the errors that waiting can cure, as opposed to a refused password or
/// a failed migration.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(cause.downcast_ref::<Error>(), Some(Error::Unavailable(_)))
            || cause
                .downcast_ref::<sqlx::Error>()
                .is_some_and(|e| unreachable(e) || matches!(e, sqlx::Error::Tls(_)))
    })
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// If `e` is a unique-constraint violation, the constraint or `table.column` it names.
///
/// PostgreSQL reports the constraint name; SQLite reports
/// "UNIQUE constraint failed: table.column", so both are matched by substring
/// against names the callers know (e.g. `customer_code`, `passkeys`).
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(
            db.constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned()),
        ),
        _ => None,
    }
}

/// A statement with its arguments bound, for helpers that build one query
/// and let the caller pick the executor (a pool or a unit's connection).
pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Flags travel as 0/1 integers through the Any driver.
pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    fn migration_names(backend: &str) -> Vec<String> {
        let dir = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn both_backends_have_the_same_migrations_in_lock_step() {
        assert_eq!(migration_names("sqlite"), migration_names("postgres"));
        assert!(!migration_names("sqlite").is_empty());
    }

    #[test]
    fn only_connection_failures_count_as_the_database_being_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(super::unreachable(&sqlx::Error::PoolTimedOut));
        assert!(super::unreachable(&sqlx::Error::Io(refused)));
        assert!(!super::unreachable(&sqlx::Error::RowNotFound));
        for code in ["08006", "08001", "57P01", "53300", "5", "517", "6"] {
            assert!(super::transient_code(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "19", "2067", "1"] {
            assert!(!super::transient_code(code), "{code}");
        }
    }

    #[test]
    fn the_sqlite_folder_is_found_in_every_url_shape() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nested/deeper/kagi.db");
        super::create_sqlite_folder(&format!("sqlite://{}?mode=rwc", file.display())).unwrap();
        assert!(file.parent().unwrap().is_dir());
        super::create_sqlite_folder("sqlite::memory:").unwrap();
    }

    #[tokio::test]
    async fn sqlite_page_caches_are_bounded_per_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let store = super::Store::connect_url(&url, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let size = |pool: &sqlx::AnyPool| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>("PRAGMA cache_size")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        let (writer, reader) = (size(&store.writer).await, size(&store.pool).await);
        assert_eq!(writer, -i64::from(super::WRITER_CACHE_KIB), "negative: KiB");
        assert_eq!(reader, -i64::from(super::READER_CACHE_KIB));
        store.close().await;
    }
}
