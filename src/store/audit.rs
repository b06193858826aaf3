//! The append-only audit trail.

use sqlx::Row as _;

use super::Store;
use crate::audit::{AuditEvent, AuditRecord};
use crate::error::Result;

/// Appends one event inside an open transaction, so it commits (or not)
/// with the change it records.
pub(super) async fn insert_event(
    conn: &mut sqlx::AnyConnection,
    event: &AuditEvent,
    at: i64,
) -> Result<()> {
    insert(event, at).execute(conn).await?;
    Ok(())
}

fn insert(event: &AuditEvent, at: i64) -> super::Query<'_> {
    sqlx::query(
        "INSERT INTO audit_events (at, kind, outcome, customer_id, customer_code, client_id, ip, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(at)
    .bind(event.kind.as_str())
    .bind(event.outcome.as_str())
    .bind(event.customer_id.as_deref())
    .bind(event.customer_code.as_deref())
    .bind(event.client_id.as_deref())
    .bind(event.ip.as_deref())
    .bind(event.detail.to_string())
}

impl Store {
    /// Appends one event.
    pub async fn insert_audit_event(&self, event: &AuditEvent, at: i64) -> Result<()> {
        insert(event, at).execute(self.autocommit()).await?;
        Ok(())
    }

    /// The newest `limit` events, optionally of one customer, newest first.
    pub async fn list_audit_events(
        &self,
        customer_code: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at, kind, outcome, customer_id, customer_code, client_id, ip, detail FROM audit_events \
             WHERE ($1 IS NULL OR customer_code = $1 \
             OR customer_id = (SELECT id FROM customers WHERE customer_code = $1)) ORDER BY id DESC LIMIT $2",
        )
        .bind(customer_code)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    outcome: row.try_get("outcome")?,
                    customer_id: row.try_get("customer_id")?,
                    customer_code: row.try_get("customer_code")?,
                    client_id: row.try_get("client_id")?,
                    ip: row.try_get("ip")?,
                    detail: serde_json::from_str(&detail)
                        .unwrap_or(serde_json::Value::String(detail)),
                })
            })
            .collect()
    }
}
