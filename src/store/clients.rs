//! Registered relying parties.

use sqlx::Row as _;

use super::{Store, flag, unique_violation};
use crate::error::{Error, Result};
use crate::model::{AuthMethod, Client, ClientId, Profile, RedirectUri, SigningAlg};

impl Store {
    /// Registers a client; a taken `client_id` is a conflict.
    pub async fn insert_client(&self, client: &Client) -> Result<()> {
        let redirect_uris: Vec<&str> = client
            .redirect_uris
            .iter()
            .map(RedirectUri::as_str)
            .collect();
        let inserted = sqlx::query(
            "INSERT INTO clients (client_id, name, secret_hash, is_public, auth_method, redirect_uris, \
             post_logout_redirect_uris, backchannel_logout_uri, require_acr, require_acr_from, require_pkce, \
             id_token_alg, jwks, jwks_uri, first_party, require_par, authorization_details_types, created_at, require_dpop, profile) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(client.client_id.as_str())
        .bind(&client.name)
        .bind(client.secret_hash.as_deref())
        .bind(flag(client.public))
        .bind(client.auth_method.as_str())
        .bind(json(&redirect_uris)?)
        .bind(json(&client.post_logout_redirect_uris)?)
        .bind(client.backchannel_logout_uri.as_deref())
        .bind(client.require_acr.as_deref())
        .bind(client.require_acr_from)
        .bind(flag(client.require_pkce))
        .bind(client.id_token_alg.as_str())
        .bind(client.jwks.as_deref())
        .bind(client.jwks_uri.as_deref())
        .bind(flag(client.first_party))
        .bind(flag(client.require_par))
        .bind(json(&client.authorization_details_types)?)
        .bind(client.created_at)
        .bind(flag(client.require_dpop))
        .bind(client.profile.as_str())
        .execute(self.autocommit())
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(Error::Conflict(format!(
                "client id {} is already registered",
                client.client_id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The client with this id, if registered.
    pub async fn find_client(&self, client_id: &str) -> Result<Option<Client>> {
        let row = sqlx::query(
            "SELECT client_id, name, secret_hash, is_public, auth_method, redirect_uris, post_logout_redirect_uris, \
             backchannel_logout_uri, require_acr, require_acr_from, require_pkce, id_token_alg, jwks, jwks_uri, first_party, require_par, \
             authorization_details_types, created_at, require_dpop, profile FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let public = row.try_get::<i64, _>("is_public")? != 0;
        let redirect_uris: Vec<String> =
            serde_json::from_str(&row.try_get::<String, _>("redirect_uris")?)
                .map_err(|e| Error::Internal(e.into()))?;
        Ok(Some(Client {
            client_id: ClientId::parse(&row.try_get::<String, _>("client_id")?)?,
            name: row.try_get("name")?,
            secret_hash: row.try_get("secret_hash")?,
            public,
            auth_method: AuthMethod::parse(&row.try_get::<String, _>("auth_method")?)?,
            redirect_uris: redirect_uris
                .iter()
                .map(|u| RedirectUri::parse(u, public))
                .collect::<Result<_>>()?,
            post_logout_redirect_uris: serde_json::from_str(
                &row.try_get::<String, _>("post_logout_redirect_uris")?,
            )
            .map_err(|e| Error::Internal(e.into()))?,
            backchannel_logout_uri: row.try_get("backchannel_logout_uri")?,
            require_acr: row.try_get("require_acr")?,
            require_acr_from: row.try_get("require_acr_from")?,
            require_pkce: row.try_get::<i64, _>("require_pkce")? != 0,
            id_token_alg: SigningAlg::parse(&row.try_get::<String, _>("id_token_alg")?)?,
            jwks: row.try_get("jwks")?,
            jwks_uri: row.try_get("jwks_uri")?,
            first_party: row.try_get::<i64, _>("first_party")? != 0,
            require_par: row.try_get::<i64, _>("require_par")? != 0,
            authorization_details_types: serde_json::from_str(
                &row.try_get::<String, _>("authorization_details_types")?,
            )
            .map_err(|e| Error::Internal(e.into()))?,
            created_at: row.try_get("created_at")?,
            require_dpop: row.try_get::<i64, _>("require_dpop")? != 0,
            profile: Profile::parse(row.try_get::<Option<String>, _>("profile")?.as_deref())?,
        }))
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.into()))
}
