//! Redirect URI matching (RFC 9700 §2.1, RFC 8252 §7.3): exact string match,
//! except that a native (public) client's loopback IP redirect matches on any port.

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
}
