//! Customers and their email addresses.

use sqlx::Row as _;

use super::{Store, unique_violation};
use crate::error::{Error, Result};
use crate::model::{Customer, CustomerCode, Email};

/// What `user add` stores for a new customer.
#[derive(Debug)]
pub struct NewCustomer<'a> {
    /// Subject id (UUID).
    pub id: &'a str,
    /// Customer code.
    pub customer_code: &'a CustomerCode,
    /// Display name.
    pub name: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// WebAuthn user handle.
    pub webauthn_user_id: &'a str,
    /// One to three addresses.
    pub emails: &'a [Email],
}

/// `SELECT` of the customer columns with a `WHERE` clause, as one static string.
macro_rules! select_customer {
    ($condition:literal) => {
        concat!(
            "SELECT id, customer_code, name, password_hash, webauthn_user_id, totp_secret, ",
            "failed_logins, locked_until, created_at FROM customers WHERE ",
            $condition
        )
    };
}

impl Store {
    /// Inserts a customer and their addresses in one transaction.
    pub async fn insert_customer(&self, new: &NewCustomer<'_>, now: i64) -> Result<()> {
        if new.emails.is_empty() || new.emails.len() > 3 {
            return Err(Error::Invalid(
                "a customer has one to three email addresses".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO customers (id, customer_code, name, password_hash, webauthn_user_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(new.id)
        .bind(new.customer_code.as_str())
        .bind(new.name)
        .bind(new.password_hash)
        .bind(new.webauthn_user_id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(match unique_violation(&e) {
                Some(c) if c.contains("customer_code") => Error::Conflict(format!(
                    "customer code {} is already registered",
                    new.customer_code
                )),
                _ => e.into(),
            });
        }
        for (position, email) in new.emails.iter().enumerate() {
            sqlx::query(
                "INSERT INTO customer_emails (customer_id, position, address) VALUES ($1, $2, $3)",
            )
            .bind(new.id)
            .bind(position as i64)
            .bind(email.as_str())
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(())
    }

    /// The customer with this code, if any.
    pub async fn find_customer_by_code(&self, code: &CustomerCode) -> Result<Option<Customer>> {
        let row = sqlx::query(select_customer!("customer_code = $1"))
            .bind(code.as_str())
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => Ok(Some(self.customer_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// The customer with this subject id, if any.
    pub async fn find_customer(&self, id: &str) -> Result<Option<Customer>> {
        let row = sqlx::query(select_customer!("id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => Ok(Some(self.customer_from_row(&row).await?)),
            None => Ok(None),
        }
    }

    async fn customer_from_row(&self, row: &sqlx::any::AnyRow) -> Result<Customer> {
        let id: String = row.try_get("id")?;
        let code: String = row.try_get("customer_code")?;
        let totp_secret: Option<String> = row.try_get("totp_secret")?;
        Ok(Customer {
            emails: self.customer_emails(&id).await?,
            customer_code: CustomerCode::parse(&code)?,
            name: row.try_get("name")?,
            password_hash: row.try_get("password_hash")?,
            webauthn_user_id: row.try_get("webauthn_user_id")?,
            totp_enrolled: totp_secret.is_some(),
            failed_logins: row.try_get("failed_logins")?,
            locked_until: row.try_get("locked_until")?,
            created_at: row.try_get("created_at")?,
            id,
        })
    }

    /// A customer's addresses in registration order.
    pub async fn customer_emails(&self, customer_id: &str) -> Result<Vec<Email>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT address FROM customer_emails WHERE customer_id = $1 ORDER BY position",
        )
        .bind(customer_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|a| Email::parse(a)).collect()
    }

    /// Clears a customer's password lock and failure count; false when no such customer.
    pub async fn unlock_customer(&self, code: &CustomerCode, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE customers SET failed_logins = 0, locked_until = NULL, totp_failures = 0, updated_at = $2 \
             WHERE customer_code = $1",
        )
        .bind(code.as_str())
        .bind(now)
        .execute(self.autocommit())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
