//! The page language a request asks for, before any session is read:
//! `?lang=`, `ui_locales` (OIDC Core §3.1.2.1) and `Accept-Language`.

use axum::http::{HeaderMap, header};

use crate::templates::Lang;

/// The language a query asks for: `lang`, else the first known `ui_locales` tag.
pub fn query_lang(query: &str) -> Option<Lang> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let find = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    find("lang")
        .and_then(Lang::parse)
        .or_else(|| find("ui_locales").and_then(Lang::from_ui_locales))
}

/// The first known language of `Accept-Language`.
pub fn accept_lang(headers: &HeaderMap) -> Option<Lang> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language)
}
