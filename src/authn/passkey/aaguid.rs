//! Provider names from authenticator AAGUIDs, for the passkey list and the
//! notice mails ("Stored in: iCloud Keychain").
//!
//! The AAGUID names the authenticator model. With attestation `none` it is
//! not proven, so the name is a label for the customer and never a security
//! decision. The table covers the platforms of the broker's supported
//! environments (Windows Hello, iCloud Keychain, Google Password Manager),
//! the browsers and password managers customers commonly use, and the
//! `YubiKey` 5 series; the values come from the community list
//! `passkeydeveloper/passkey-authenticator-aaguids` and Yubico's published
//! AAGUIDs. Anything else (including the all-zero AAGUID many providers send)
//! is unknown, and pages and mails show a generic "passkey" instead.

use uuid::Uuid;

/// Known AAGUIDs (lower-case hyphenated) and their provider names.
const PROVIDERS: &[(&str, &str)] = &[
    // Platforms of the broker's supported environments (`docs/product.md#guide-rules`, rule 5).
    ("08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"),
    ("9ddd1817-af5a-4672-a2b9-3e3dd95000a9", "Windows Hello"),
    ("6028b017-b1d4-4c02-b4b3-afcdafc96bb2", "Windows Hello"),
    ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "iCloud Keychain"),
    ("dd4ec289-e01d-41c9-bb89-70fa845d4bf2", "iCloud Keychain"),
    (
        "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
        "Google Password Manager",
    ),
    // Browsers' own passkey stores.
    ("adce0002-35bc-c60a-648b-0b25f1f05503", "Chrome on Mac"),
    ("b5397666-4885-aa6b-cebf-e52262a439a2", "Chromium Browser"),
    ("771b48fd-d3d4-4f74-9232-fc157ab0507a", "Edge on Mac"),
    (
        "d3452668-01fd-4c12-926c-83a4204853aa",
        "Microsoft Password Manager",
    ),
    ("53414d53-554e-4700-0000-000000000000", "Samsung Pass"),
    // Password managers.
    ("bada5566-a7aa-401f-bd96-45619a55120d", "1Password"),
    ("d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden"),
    ("531126d6-e717-415c-9320-3d9aa6981239", "Dashlane"),
    ("b84e4048-15dc-4dd0-8640-f4f60813c8af", "NordPass"),
    ("0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6", "Keeper"),
    ("f3809540-7f14-49c1-a8b3-8f813b225541", "Enpass"),
    ("50726f74-6f6e-5061-7373-50726f746f6e", "Proton Pass"),
    ("b78a0a55-6ef8-d246-a042-ba0f6d55050c", "LastPass"),
    ("fdb141b2-5d84-443e-8a35-4698c205a502", "KeePassXC"),
    ("eaecdef2-1c31-5634-8639-f1cbd9c00a08", "KeePassDX"),
    // Security keys.
    ("cb69481e-8ff7-4039-93ec-0a2729a154a8", "YubiKey 5 Series"),
    ("ee882879-721c-4913-9775-3dfcce97072a", "YubiKey 5 Series"),
    (
        "fa2b99dc-9e39-4257-8f92-4a30d23c4118",
        "YubiKey 5 Series with NFC",
    ),
    (
        "2fc0579f-8113-47ea-b116-bb5a8db9202a",
        "YubiKey 5 Series with NFC",
    ),
    ("c5ef55ff-ad9a-4b9f-b580-adebafe026d0", "YubiKey 5Ci"),
    (
        "73bb0cd4-e502-49b8-9c6f-b59445bf720b",
        "YubiKey 5 FIPS Series",
    ),
    (
        "c1f9a0bc-1dd2-404a-b27f-8e29047a43fd",
        "YubiKey 5 FIPS Series with NFC",
    ),
];

/// The provider name of an AAGUID, or `None` when it is not in the table.
pub fn provider_name(aaguid: &Uuid) -> Option<&'static str> {
    let text = aaguid.hyphenated().to_string();
    PROVIDERS
        .iter()
        .find(|(id, _)| *id == text)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_platforms_are_named_and_unknown_models_are_not() {
        let name = |s: &str| provider_name(&Uuid::parse_str(s).unwrap());
        assert_eq!(
            name("08987058-CADC-4B81-B6E1-30DE50DCBE96"),
            Some("Windows Hello")
        );
        assert_eq!(
            name("fbfc3007-154e-4ecc-8c0b-6e020557d7bd"),
            Some("iCloud Keychain")
        );
        assert_eq!(
            name("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"),
            Some("Google Password Manager")
        );
        assert_eq!(name("00000000-0000-0000-0000-000000000000"), None);
    }

    #[test]
    fn the_table_holds_each_aaguid_once_in_canonical_form() {
        let mut ids: Vec<&str> = PROVIDERS.iter().map(|(id, _)| *id).collect();
        for id in &ids {
            let parsed = Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.hyphenated().to_string(), *id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), PROVIDERS.len());
    }
}
