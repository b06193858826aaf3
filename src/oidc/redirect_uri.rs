//! Redirect URI matching (RFC 9700 §2.1, RFC 8252 §7.3): exact string match,
//! except that a native (public) client's loopback IP redirect matches on any port.
//!
//! The port exception is the one place a requested URI is parsed, and the
//! WHATWG parser forgives much (it drops tabs and newlines, resolves `..`,
//! reads `127.1` and `0x7f.0.0.1` as `127.0.0.1`, lower-cases the scheme).
//! So the requested URI must also be written exactly as the parser writes it
//! back: then the string redirected to is the string that was compared,
//! differing from the registered one in the port alone.

use url::Url;

use crate::model::{Client, RedirectKind, RedirectUri};

/// Whether `requested` is one of the client's registered redirect URIs.
pub fn is_registered(client: &Client, requested: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|registered| matches(client.public, registered, requested))
}

fn matches(public: bool, registered: &RedirectUri, requested: &str) -> bool {
    if registered.as_str() == requested {
        return true;
    }
    if !public {
        return false;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered.as_str()), Url::parse(requested)) else {
        return false;
    };
    // RFC 8252 §7.3: only IP-literal loopback redirects get the any-port rule
    // ("localhost" may resolve elsewhere, RFC 8252 §8.3).
    let loopback_ip = matches!(req.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(req.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    loopback_ip
        && req.as_str() == requested
        && RedirectUri::kind_of(&reg) == Some(RedirectKind::Loopback)
        && reg.scheme() == req.scheme()
        && reg.host() == req.host()
        && reg.path() == req.path()
        && reg.query() == req.query()
        && req.fragment().is_none()
        && req.username().is_empty()
        && req.password().is_none()
}

#[cfg(test)]
/// Requested URIs that a browser or the `url` crate would read as a
/// registered one, or that point elsewhere, when `https://rp.example.com/cb`,
/// `http://127.0.0.1/callback`, `http://[::1]/callback` and
/// `jp.example.app:/oauth` are registered; none may match.
pub(crate) const LOOKALIKES: &[&str] = &[
    "https://rp.example.com/cb\t",
    "https://rp.example.com/c\tb",
    "https://rp.example.com/cb\n",
    "https://rp.example.com/cb%09",
    "https://rp.example.com/./cb",
    "https://rp.example.com/x/../cb",
    "https://rp.example.com//cb",
    "https://rp.example.com\\cb",
    "https://rp.example.com\\@evil.example/cb",
    "https://rp.example.com@evil.example/cb",
    "https://evil@rp.example.com/cb",
    "https://rp.example.com.evil.example/cb",
    "https://rp.example.com:443/cb",
    "HTTPS://rp.example.com/cb",
    "https://rp.example.com/cb#x",
    "https://rp.example.com/cb?x=1",
    "https:rp.example.com/cb",
    "//rp.example.com/cb",
    "https://rp.example.com\u{FF0F}cb",
    "http://127.0.0.1:53117/callback\t",
    "http://127.0.0.1:531\t17/callback",
    "http://127.0.0.1:53117/call\nback",
    "http://127.0.0.1:53117/./callback",
    "http://127.0.0.1:53117/x/../callback",
    "http://127.0.0.1:53117/%63allback",
    "http://127.1:53117/callback",
    "http://0x7f.0.0.1:53117/callback",
    "http://2130706433:53117/callback",
    "http://0177.0.0.1:53117/callback",
    "HTTP://127.0.0.1:53117/callback",
    "http://127.0.0.1:053117/callback",
    "http://127.0.0.1:53117//callback",
    "http://evil@127.0.0.1:53117/callback",
    "http://127.0.0.1:53117@evil.example/callback",
    "http://127.0.0.1:53117\\@evil.example/callback",
    "http://127.0.0.1:53117/callback#x",
    "http://127.0.0.1:53117/callback?x=1",
    "http://127.0.0.1.evil.example:53117/callback",
    "http://localhost:53117/callback",
    "https://127.0.0.1:53117/callback",
    " http://127.0.0.1:53117/callback",
    "http://[::1]:53117/callback\t",
    "http://[0:0:0:0:0:0:0:1]:53117/callback",
    "http://[::ffff:127.0.0.1]:53117/callback",
    "jp.example.app:/oauth\t",
    "jp.example.app:/./oauth",
    "JP.EXAMPLE.APP:/oauth",
    "javascript:alert(1)",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool, uris: &[&str]) -> Client {
        crate::model::test_client(public, uris)
    }

    #[test]
    fn web_clients_match_exactly() {
        let web = client(
            false,
            &["https://rp.example.com/cb", "http://127.0.0.1:4000/cb"],
        );
        assert!(is_registered(&web, "https://rp.example.com/cb"));
        for bad in [
            "https://rp.example.com/cb/",
            "https://rp.example.com/cb?x=1",
            "https://RP.example.com/cb",
            "http://127.0.0.1:4001/cb",
        ] {
            assert!(!is_registered(&web, bad), "{bad}");
        }
    }

    #[test]
    fn native_loopback_redirects_match_on_any_port_only() {
        let app = client(
            true,
            &[
                "http://127.0.0.1/callback",
                "http://[::1]/callback",
                "jp.example.app:/oauth",
            ],
        );
        assert!(is_registered(&app, "http://127.0.0.1:51234/callback"));
        assert!(is_registered(&app, "http://[::1]:8080/callback"));
        assert!(is_registered(&app, "jp.example.app:/oauth"));
        for bad in [
            "http://127.0.0.1:51234/other",
            "http://127.0.0.2:5000/callback",
            "http://localhost:5000/callback",
            "https://127.0.0.1:5/callback",
            "jp.example.app:/other",
        ] {
            assert!(!is_registered(&app, bad), "{bad}");
        }
    }

    #[test]
    fn lookalikes_of_registered_redirect_uris_never_match() {
        let registered = [
            "https://rp.example.com/cb",
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "jp.example.app:/oauth",
        ];
        for public in [false, true] {
            let c = client(public, &registered);
            for bad in LOOKALIKES {
                assert!(!is_registered(&c, bad), "public={public}: {bad:?}");
            }
        }
        let native = client(true, &registered);
        for good in [
            "http://127.0.0.1:53117/callback",
            "http://[::1]:53117/callback",
            "http://127.0.0.1/callback",
        ] {
            assert!(is_registered(&native, good), "{good}");
        }
    }
}
