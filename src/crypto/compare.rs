//! Constant-time comparison of secrets, so response timing reveals nothing
//! about how much of a guess was right.

use subtle::ConstantTimeEq;

/// Whether two byte strings are equal, in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// [`ct_eq`] over strings.
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    ct_eq(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_and_unequal_strings_are_told_apart() {
        assert!(ct_eq_str("abc", "abc"));
        assert!(!ct_eq_str("abc", "abd"));
        assert!(!ct_eq_str("abc", "abcd"));
        assert!(ct_eq_str("", ""));
    }
}
