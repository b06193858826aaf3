//! Key rotation: published before it signs, retired keys kept until their tokens expire.

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::server::kids;

both_backends!(
    a_rotated_key_is_published_first_and_signs_only_after_the_lead,
    keys_list_shows_every_key_with_its_state
);

async fn a_rotated_key_is_published_first_and_signs_only_after_the_lead(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let es256 = kagi::model::SigningAlg::Es256;
    let first = app.state.keys.signer(es256).unwrap().row.kid.clone();
    let before = kids(&app.get("/jwks").await.text().await.unwrap());

    let rotated = app.cli(&["--json", "keys", "rotate"], None);
    assert!(rotated.success, "{rotated:?}");
    let listed = rotated.json();
    let states: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "next").count(),
        4,
        "{listed}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "active").count(),
        4,
        "{listed}"
    );

    // What the node's reload task does every key_reload_secs.
    app.state.keys.reload().await.unwrap();
    let published = kids(&app.get("/jwks").await.text().await.unwrap());
    assert_eq!(published.len(), 8, "next keys are published at once");
    assert!(before.iter().all(|k| published.contains(k)));
    assert_eq!(
        app.state.keys.signer(es256).unwrap().row.kid,
        first,
        "the old key still signs during the lead"
    );

    // The CLI stamped the rotation with the real clock: now + key_publish_lead_secs.
    let activates = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "next")
        .unwrap()["activates_at"]
        .as_i64()
        .unwrap();
    assert!(activates >= app.clock.now() + 3590, "the lead is an hour");
    app.clock.advance(activates - app.clock.now() - 1);
    assert_eq!(
        app.state.keys.signer(es256).unwrap().row.kid,
        first,
        "one second before the lead ends"
    );
    app.clock.advance(1);
    let second = app.state.keys.signer(es256).unwrap().row.kid.clone();
    assert_ne!(second, first, "the new key signs after the lead");
    app.state.keys.reload().await.unwrap();
    assert!(
        kids(&app.get("/jwks").await.text().await.unwrap()).contains(&first),
        "the retired key stays published"
    );

    app.clock.advance(600 + 300); // longest token lifetime + margin, after the successor activated
    app.state.keys.reload().await.unwrap();
    let after = kids(&app.get("/jwks").await.text().await.unwrap());
    assert!(
        !after.contains(&first),
        "a retired key leaves once its tokens have expired"
    );
    assert_eq!(after.len(), 4);
}

async fn keys_list_shows_every_key_with_its_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let out = app.cli(&["--json", "keys", "list"], None);
    assert!(out.success, "{out:?}");
    let keys = out.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 4);
    for key in &keys {
        assert_eq!(key["state"], "active");
        let kid = key["kid"].as_str().unwrap();
        let file = app.dir.path().join("keys").join(format!("{kid}.pem"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                file.display()
            );
        }
    }
}
