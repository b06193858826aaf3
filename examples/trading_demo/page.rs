//! The demo's only page: who is logged in and how, its buttons, and the
//! result of the last action.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;

use super::app::{Demo, session_id};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Trading demo</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;\
         margin:2rem auto;padding:0 1rem}}dl{{display:grid;grid-template-columns:max-content 1fr;\
         gap:.25rem 1rem}}dd{{margin:0;font-family:monospace}}a,button{{margin-right:.5rem}}\
         #result{{padding:.5rem;background:#eef}}</style></head><body><h1>Trading demo</h1>{body}\
         <p><small>Buy (100 shares of 7203 at a limit of 2,500 yen) and Withdraw \
         (1,000,000 yen to Mizuho Bank ****5678) are each pushed to Kagi by PAR and \
         confirmed with a passkey that signs the transaction; the demo executes only \
         what the tokens grant back.</small></p></body></html>"
    ))
}

/// `GET /`: who is logged in, how (`acr`, `amr`, `auth_time`), the last
/// result and the `txn` of the last transaction executed.
pub(super) async fn home(State(demo): State<Demo>, headers: HeaderMap) -> Html<String> {
    let (login, result, txn) = match session_id(&headers) {
        Some(id) => demo
            .sessions()
            .get(&id)
            .map(|s| (s.login.clone(), s.last_result.clone(), s.last_txn.clone()))
            .unwrap_or_default(),
        None => (None, None, None),
    };
    let status = match login {
        None => "<p id=\"status\">Not logged in.</p>\
                 <p><a id=\"demo-login\" href=\"/login\">Log in with Kagi</a> \
                 <a id=\"demo-check\" href=\"/login?prompt=none\">Check the Kagi session (prompt=none)</a></p>"
            .to_owned(),
        Some(l) => format!(
            "<p id=\"status\">Logged in as <code id=\"sub\">{}</code></p>\
             <dl><dt>acr</dt><dd id=\"acr\">{}</dd><dt>amr</dt><dd id=\"amr\">{}</dd>\
             <dt>auth_time</dt><dd id=\"auth-time\">{}</dd></dl>\
             <p><a id=\"buy\" href=\"/buy\">Buy</a> <a id=\"withdraw\" href=\"/withdraw\">Withdraw</a></p>\
             <p><small>Debug, requests Kagi must refuse before any page: <a id=\"withdraw-tampered\" href=\"/withdraw/tampered\">A withdrawal with an extra \
             member</a> <a id=\"withdraw-unknown-type\" href=\"/withdraw/unknown-type\">A \
             \"transfer\"</a> (both in the browser's URL, as an altered page would send them, \
             not by PAR)</small></p>\
             <form method=\"post\" action=\"/logout\"><button type=\"submit\" id=\"demo-logout\">Log out everywhere</button></form>",
            escape(&l.sub),
            escape(&l.acr),
            escape(&l.amr.join(" ")),
            l.auth_time
        ),
    };
    let result = result
        .map(|r| format!("<p id=\"result\">{}</p>", escape(&r)))
        .unwrap_or_default();
    let txn = txn
        .map(|t| format!("<p>txn <code id=\"txn\">{}</code></p>", escape(&t)))
        .unwrap_or_default();
    page(&format!("{status}{result}{txn}"))
}
