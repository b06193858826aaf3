//! The static assets served under `/static/`, embedded like the templates.

const KAGI_CSS: &str = include_str!("../../templates/static/kagi.css");
const KAGI_JS: &str = include_str!("../../templates/static/kagi.js");
const FORM_POST_JS: &str = include_str!("../../templates/static/form_post.js");

/// A static asset by its path under `/static/`: its content type and body.
pub fn static_asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "kagi.css" => Some(("text/css; charset=utf-8", KAGI_CSS)),
        "kagi.js" => Some(("text/javascript; charset=utf-8", KAGI_JS)),
        "form_post.js" => Some(("text/javascript; charset=utf-8", FORM_POST_JS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_assets_are_served_with_their_types() {
        let (css_type, css) = static_asset("kagi.css").unwrap();
        assert_eq!(css_type, "text/css; charset=utf-8");
        assert!(css.contains(":focus-visible") && css.contains("Hiragino Sans"));
        let (js_type, js) = static_asset("kagi.js").unwrap();
        assert_eq!(js_type, "text/javascript; charset=utf-8");
        assert!(js.starts_with("\"use strict\";"));
        assert_eq!(static_asset("../Cargo.toml"), None);
        assert_eq!(static_asset("/static/kagi.css"), None);
    }
}
