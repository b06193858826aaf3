//! A unit of work: one write transaction that the steps of one request
//! share, so the request commits once (`docs/write-path.md`).
//!
//! A passkey login, for example, spends its ceremony, saves the
//! authenticator's counter, binds the session and appends the audit event;
//! as four commits a crash between them could leave a spent ceremony and no
//! session, or a login without its audit event, and each commit costs the
//! single SQLite writer a round of its own. In one [`Unit`] they all land
//! or none does.
//!
//! While a `Unit` is open it holds the writer connection (on SQLite the only
//! one; with a `:memory:` database also the only reader), so its owner must
//! not read through [`Store`]'s pool until it commits: read first, then open
//! the unit. Dropping a unit without [`Unit::commit`] rolls it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Any, AnyConnection, Transaction};

use super::Store;
use crate::audit::AuditEvent;
use crate::error::Result;

/// An open write transaction; see the module documentation.
#[derive(Debug)]
pub struct Unit {
    tx: Transaction<'static, Any>,
    commits: Arc<AtomicU64>,
}

impl Store {
    /// Opens a unit of work on the writer.
    pub async fn unit(&self) -> Result<Unit> {
        Ok(Unit {
            tx: self.begin_write().await?,
            commits: Arc::clone(&self.commits),
        })
    }
}

impl Unit {
    /// Commits everything the unit wrote, counted as one commit.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Appends an audit event that commits (or not) with the rest.
    pub async fn audit(&mut self, event: &AuditEvent, at: i64) -> Result<()> {
        super::audit::insert_event(self.conn(), event, at).await
    }

    /// The transaction's connection, for the store's statements.
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}
