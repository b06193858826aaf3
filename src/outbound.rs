//! Requests Kagi sends to addresses its clients registered: fetching a
//! `jwks_uri` (`crypto::client_jwks`) and delivering back-channel logout
//! tokens (`oidc::backchannel`).
//!
//! A client's URL is a way into the network Kagi runs in (server-side
//! request forgery: a metadata service, an admin port, a database), so
//! every such request is fenced in the same way: the host is resolved once,
//! every address must be public (not private, loopback, link-local,
//! unspecified, multicast or reserved) unless the caller allows private
//! ones, and the connection goes to exactly the addresses checked, so a
//! second DNS answer cannot rebind it; redirects are not followed and
//! proxies from the environment are not used.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A URL's host with the checked addresses to connect to.
#[derive(Debug)]
pub struct Target {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl Target {
    /// An HTTP client that connects to the checked addresses only.
    pub fn client(&self, timeout: Duration) -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve_to_addrs(&self.host, &self.addrs)
            .timeout(timeout)
            .build()
            .context("cannot build the HTTP client")
    }
}

/// Resolves `url`'s host and checks every address (public unless
/// `allow_private`).
pub async fn checked(url: &url::Url, allow_private: bool) -> anyhow::Result<Target> {
    if !matches!(url.scheme(), "https" | "http") {
        bail!("the URL must be http(s)");
    }
    let host = url.host_str().context("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().context("the URL has no port")?;
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        _ => tokio::net::lookup_host((host.as_str(), port))
            .await
            .context("cannot resolve the host")?
            .collect(),
    };
    if addrs.is_empty() {
        bail!("the host has no address");
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        bail!("the host resolves to a non-public address {}", bad.ip());
    }
    Ok(Target { host, addrs })
}

/// Whether `ip` is an ordinary public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64 (RFC 6052): the IPv4 address it reaches decides.
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || s[..6] == [0; 6] // IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)
                || s[0] & 0xfe00 == 0xfc00 // unique local fc00::/7
                || s[0] & 0xffc0 == 0xfe80 // link-local fe80::/10
                || s[0] & 0xffc0 == 0xfec0 // site-local fec0::/10, deprecated
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_public() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
        ];
        for ip in refused {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
