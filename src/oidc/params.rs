//! Request parameters, parsed once from a query string or form body.
//!
//! OAuth and OpenID Connect forbid sending a parameter more than once
//! (RFC 6749 §3.1, §3.2; OIDC Core §3.1.2.1 through RFC 6749). [`Params`]
//! remembers which names were repeated instead of failing at once, because
//! where the refusal goes depends on the endpoint: the back-channel
//! endpoints answer 400 before anything else, while `/authorize` may only
//! redirect it to the client after `client_id` and `redirect_uri` were
//! checked (RFC 6749 §4.1.2.1). [`Params::unique`] is the one place that
//! refuses them.

use serde::{Deserialize, Serialize};

use super::error::ProtocolError;

/// The refusal of a repeated parameter.
pub const REPEATED: ProtocolError =
    ProtocolError::invalid_request("a parameter was sent more than once");

/// The parameters of one request, in the order sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(String, String)>", into = "Vec<(String, String)>")]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// The input is not `application/x-www-form-urlencoded` data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

impl Params {
    /// Parses a query string or an `application/x-www-form-urlencoded` body.
    pub fn parse(raw: &[u8]) -> Result<Self, Malformed> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
            .map(Self::from)
            .map_err(|_| Malformed)
    }

    /// The value of `name`; the first, if it was repeated.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` as an owned string.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// Whether `name` was sent.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether `name` was sent more than once.
    pub fn is_repeated(&self, name: &str) -> bool {
        self.pairs.iter().filter(|(k, _)| k == name).take(2).count() == 2
    }

    /// Whether any parameter was sent more than once.
    pub fn any_repeated(&self) -> bool {
        let mut names: Vec<&str> = self.pairs.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.windows(2).any(|w| w[0] == w[1])
    }

    /// The parameters, refused with `invalid_request` if any was repeated.
    pub fn unique(self) -> Result<Self, ProtocolError> {
        if self.any_repeated() {
            Err(REPEATED)
        } else {
            Ok(self)
        }
    }

    /// The parameters without those named in `names`.
    #[must_use]
    pub fn without(mut self, names: &[&str]) -> Self {
        self.pairs.retain(|(k, _)| !names.contains(&k.as_str()));
        self
    }

    /// Adds a parameter.
    pub fn push(&mut self, name: &str, value: &str) {
        self.pairs.push((name.to_owned(), value.to_owned()));
    }

    /// The pairs as sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

impl From<Vec<(String, String)>> for Params {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }
}

impl From<Params> for Vec<(String, String)> {
    fn from(params: Params) -> Self {
        params.pairs
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Params {
    fn from(pairs: [(&str, &str); N]) -> Self {
        Self {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_counts_and_repeats_are_remembered_until_refused() {
        let params = Params::parse(b"a=1&b=2&a=3&c=%20x+y").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("c"), Some(" x y"));
        assert!(params.is_repeated("a") && !params.is_repeated("b"));
        assert!(params.any_repeated());
        assert_eq!(params.unique(), Err(REPEATED));
        let once = Params::parse(b"a=1&b=&c").unwrap().unique().unwrap();
        assert_eq!(once.get("b"), Some(""));
        assert_eq!(once.get("c"), Some(""));
        assert!(!once.has("d"));
    }

    #[test]
    fn stored_params_read_back_as_the_pairs_they_were() {
        let params = Params::from([("client_id", "c"), ("scope", "openid")]).without(&["scope"]);
        let json = serde_json::to_string(&params).unwrap();
        assert_eq!(json, r#"[["client_id","c"]]"#);
        assert_eq!(serde_json::from_str::<Params>(&json).unwrap(), params);
    }
}
