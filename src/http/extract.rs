//! Extractors for hosted pages: the browser (session, language, IP), the
//! logged-in customer, and forms whose CSRF token was checked.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;

use super::error::PageError;
use super::lang::{accept_lang, query_lang};
use crate::authn::session;
use crate::crypto::compare;
use crate::model::Customer;
use crate::oidc::params::Params;
use crate::paths;
use crate::state::AppState;
use crate::store::sessions::SessionRow;
use crate::templates::Lang;

/// The visitor's browser: its session (created on first sight), language and IP.
#[derive(Clone, Debug)]
pub struct Browser {
    /// The session row.
    pub session: SessionRow,
    /// A cookie value to set on the response: a new session, or one rotated at login.
    pub new_cookie: Option<String>,
    /// Page language.
    pub lang: Lang,
    /// Whether the URL itself asked for the language (`lang`, `ui_locales`).
    pub lang_asked: bool,
    /// Client IP.
    pub ip: String,
    /// Path of the request, for the language switch links.
    pub path: String,
    /// Query of the request without `lang`, for the language switch links.
    pub query_without_lang: String,
}

/// The client IP: the socket peer, or, with `trust_forwarded_for`, the
/// address our own proxies recorded in `X-Forwarded-For`.
pub fn client_ip(parts: &Parts, state: &AppState) -> String {
    let socket = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = if state.config.trust_forwarded_for {
        forwarded_client(&parts.headers, state.config.trusted_proxy_hops)
    } else {
        None
    };
    forwarded
        .or(socket)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The client address that the `hops` proxies in front of Kagi saw.
///
/// Each proxy appends the address it received the request from to
/// `X-Forwarded-For`, so anything a client sends arrives on the left and
/// only the right-most `hops` entries were written by our proxies: the one
/// `hops` places from the right is the address the outermost of them saw.
/// Several header lines count as one list in order (RFC 9110 §5.3). `None`,
/// so the socket peer is used, when there are fewer entries than hops or the
/// entry is not an IP address.
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<std::net::IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let index = entries.len().checked_sub(hops.max(1))?;
    entries[index].parse().ok()
}

fn without_lang(query: &str) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let kept: Vec<_> = pairs.into_iter().filter(|(k, _)| k != "lang").collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, state);
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let asked = query_lang(&query);
        let existing = match super::cookie::session_value(&parts.headers) {
            Some(value) => session::load(state, &value).await?,
            None => None,
        };
        let (session, new_cookie, lang) = match existing {
            Some(row) => {
                let lang = asked
                    .or_else(|| row.locale.as_deref().and_then(Lang::parse))
                    .or_else(|| accept_lang(&parts.headers))
                    .unwrap_or(Lang::Ja);
                if row.locale.as_deref() != Some(lang.as_str()) {
                    state
                        .store
                        .set_session_locale(&row.sid, lang.as_str())
                        .await?;
                }
                (row, None, lang)
            }
            None => {
                let lang = asked
                    .or_else(|| accept_lang(&parts.headers))
                    .unwrap_or(Lang::Ja);
                let user_agent = parts
                    .headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok());
                let (row, handle) = session::start(state, lang, user_agent, &ip).await?;
                (row, Some(handle), lang)
            }
        };
        Ok(Self {
            session,
            new_cookie,
            lang,
            lang_asked: asked.is_some(),
            ip,
            path: parts.uri.path().to_owned(),
            query_without_lang: without_lang(&query),
        })
    }
}

/// A browser whose session belongs to a customer; others are sent to the login page.
#[derive(Debug)]
pub struct LoggedIn {
    /// The browser.
    pub browser: Browser,
    /// The customer.
    pub customer: Customer,
}

impl FromRequestParts<AppState> for LoggedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let browser = Browser::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let customer = match &browser.session.customer_id {
            Some(id) => state
                .store
                .find_customer(id)
                .await
                .map_err(|e| PageError::from(e).into_response())?,
            None => None,
        };
        match customer {
            Some(customer) => Ok(Self { browser, customer }),
            None => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map_or(paths::ACCOUNT, |pq| pq.as_str());
                let target = format!(
                    "{}?{}",
                    paths::LOGIN,
                    serde_urlencoded::to_string([("return_to", back)]).unwrap_or_default()
                );
                Err(super::cookie::with_cookie(
                    Redirect::to(&target).into_response(),
                    browser.new_cookie.as_deref(),
                ))
            }
        }
    }
}

/// A form post (`application/x-www-form-urlencoded`) from a browser whose
/// session's CSRF token it carries; a missing or wrong token is a 403 page.
#[derive(Debug)]
pub struct CsrfForm<T> {
    /// The browser that posted.
    pub browser: Browser,
    /// The form fields (besides `csrf`).
    pub form: T,
}

/// Checks the `csrf` field of a form body against the session and deserialises
/// the rest; a field sent twice is a bad request.
pub fn check_form<T: DeserializeOwned>(session: &SessionRow, body: &[u8]) -> Result<T, PageError> {
    let params = Params::parse(body)
        .ok()
        .and_then(|p| p.unique().ok())
        .ok_or_else(PageError::bad_request)?;
    let token = params.get("csrf").unwrap_or_default();
    if !compare::ct_eq_str(token, &session.csrf_token) {
        return Err(PageError::csrf());
    }
    serde_urlencoded::from_bytes(body).map_err(|_| PageError::bad_request())
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state).await?;
        let lang = browser.lang;
        if !super::params::is_form(&parts.headers) {
            return Err(PageError::bad_request().in_lang(lang));
        }
        let body = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
            .await
            .map_err(|_| PageError::bad_request().in_lang(lang))?;
        let form = check_form(&browser.session, &body).map_err(|e| e.in_lang(lang))?;
        Ok(Self { browser, form })
    }
}

/// A page's query string, whose malformed input is a 400 page rather than plain text.
#[derive(Debug)]
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for PageQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(PageQuery)
            .map_err(|_| PageError::bad_request())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", line.parse().unwrap());
        }
        map
    }

    fn client(lines: &[&str], hops: usize) -> Option<String> {
        forwarded_client(&headers(lines), hops).map(|ip| ip.to_string())
    }

    #[test]
    fn the_address_our_proxy_appended_wins_over_what_the_client_wrote() {
        // The client sent `X-Forwarded-For: 6.6.6.6`; our one proxy appended its peer.
        assert_eq!(
            client(&["6.6.6.6, 203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client(&["6.6.6.6", "203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(client(&["203.0.113.7"], 1).as_deref(), Some("203.0.113.7"));
        assert_eq!(
            client(&["1.1.1.1, 2.2.2.2 ,6.6.6.6,203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn with_two_proxies_the_second_entry_from_the_right_is_the_client() {
        // CDN appended the client, then the load balancer appended the CDN.
        let chain = ["6.6.6.6, 203.0.113.7, 198.51.100.2"];
        assert_eq!(client(&chain, 2).as_deref(), Some("203.0.113.7"));
        assert_eq!(client(&chain, 3).as_deref(), Some("6.6.6.6"));
        assert_eq!(
            client(&["2001:db8::1, 198.51.100.2"], 2).as_deref(),
            Some("2001:db8::1")
        );
    }

    #[test]
    fn too_few_entries_or_garbage_fall_back_to_the_socket_peer() {
        assert_eq!(client(&[], 1), None);
        assert_eq!(client(&["203.0.113.7"], 2), None);
        assert_eq!(client(&[" , "], 1), None);
        assert_eq!(client(&["6.6.6.6, not-an-ip"], 1), None);
        assert_eq!(client(&["6.6.6.6, 203.0.113.7:4711"], 1), None);
    }
}
