//! RFC 6238 codes (HMAC-SHA1, 6 digits, 30 s) from an `otpauth://` URI, so
//! the bench logs customers in as an authenticator app would.

use anyhow::{Result, anyhow};
use ring::hmac;

use crate::http::query_param;

/// The seed of an `otpauth://totp/...?secret=BASE32` URI.
pub fn seed(uri: &str) -> Result<Vec<u8>> {
    let secret = query_param(uri, "secret").ok_or_else(|| anyhow!("no secret in {uri}"))?;
    base32(&secret)
}

fn base32(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return Err(anyhow!("bad base32 {c:?}")),
        };
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}

/// The code for unix time `now`.
pub fn code(seed: &[u8], now: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let tag = hmac::sign(&key, &(now / 30).to_be_bytes());
    let digest = tag.as_ref();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 Appendix B, T = 59, truncated to 6 digits.
        assert_eq!(super::code(b"12345678901234567890", 59), "287082");
    }
}
