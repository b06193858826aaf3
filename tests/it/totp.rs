//! TOTP storage on both backends: enrolment, replay refusal, the failure
//! lock, and seeds sealed to their customer.

use kagi::authn::totp::{self, MAX_FAILURES, STEP_SECS};
use kagi::crypto::seal::DataKey;
use kagi::store::sessions::StepUpSpend;
use kagi::store::totp::TotpConfirmation;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_pending_seed_is_not_enrolled_without_a_step_up,
    a_step_is_accepted_once_and_older_steps_are_refused,
    two_nodes_racing_with_one_code_accept_it_once,
    wrong_codes_count_up_and_lock_the_factor_at_the_limit,
    a_seed_sealed_for_one_customer_does_not_open_for_another
);

fn data_key(app: &TestApp) -> DataKey {
    DataKey::load_or_create(&app.dir.path().join("keys")).unwrap()
}

async fn a_pending_seed_is_not_enrolled_without_a_step_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    let id = app.customer().code("C0001001").create().await.sub;
    let now = app.clock.now();
    assert!(
        store.totp_state(&id).await.unwrap().is_none(),
        "not enrolled yet"
    );
    assert_eq!(store.pending_totp(&id).await.unwrap(), None);
    // Without a step-up of the session nothing is confirmed, pending or not.
    let no_step_up = StepUpSpend {
        sid: "no-such-session",
        not_before: 0,
        passkey_only: false,
        method: None,
    };
    assert_eq!(
        store
            .confirm_totp(&id, totp::step_at(now), &no_step_up, now)
            .await
            .unwrap(),
        TotpConfirmation::NoStepUp
    );

    let key = data_key(&app);
    let seed = totp::new_secret();
    let sealed = key.seal(&seed, id.as_bytes()).unwrap();
    store.set_pending_totp(&id, &sealed, now).await.unwrap();
    assert_eq!(
        store.pending_totp(&id).await.unwrap().as_deref(),
        Some(sealed.as_str())
    );
    assert!(
        store.totp_state(&id).await.unwrap().is_none(),
        "pending is not enrolled"
    );

    let pending = key
        .open(
            &store.pending_totp(&id).await.unwrap().unwrap(),
            id.as_bytes(),
        )
        .unwrap();
    let step = totp::verify(&pending, &totp::code_at(&seed, now), now, None).unwrap();
    assert_eq!(
        store
            .confirm_totp(&id, step, &no_step_up, now)
            .await
            .unwrap(),
        TotpConfirmation::NoStepUp
    );
    assert!(
        store.totp_state(&id).await.unwrap().is_none(),
        "still not enrolled"
    );
    assert_eq!(
        store.pending_totp(&id).await.unwrap().as_deref(),
        Some(sealed.as_str()),
        "still pending"
    );
}

async fn a_step_is_accepted_once_and_older_steps_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    let id = app.customer().code("C0001002").create().await.sub;
    let now = app.clock.now();
    let step = totp::step_at(now);
    assert!(
        !store.accept_totp_step(&id, step, 0, now).await.unwrap(),
        "not enrolled"
    );

    let sealed = data_key(&app)
        .seal(&totp::new_secret(), id.as_bytes())
        .unwrap();
    store.enroll_totp(&id, &sealed, now).await.unwrap();
    assert!(store.accept_totp_step(&id, step, 0, now).await.unwrap());
    assert!(
        !store.accept_totp_step(&id, step, 0, now).await.unwrap(),
        "same step twice"
    );
    assert!(
        !store.accept_totp_step(&id, step - 1, 0, now).await.unwrap(),
        "an older step"
    );

    app.clock.advance(STEP_SECS);
    let later = app.clock.now();
    assert!(
        store
            .accept_totp_step(&id, totp::step_at(later), 0, later)
            .await
            .unwrap()
    );
    assert_eq!(
        store.totp_state(&id).await.unwrap().unwrap().last_step,
        Some(step + 1)
    );
}

async fn two_nodes_racing_with_one_code_accept_it_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.customer().code("C0001003").create().await.sub;
    let now = app.clock.now();
    let sealed = data_key(&app)
        .seal(&totp::new_secret(), id.as_bytes())
        .unwrap();
    app.state
        .store
        .enroll_totp(&id, &sealed, now)
        .await
        .unwrap();
    let step = totp::step_at(now);
    let tries: Vec<_> = (0..4)
        .map(|_| {
            let store = app.state.store.clone();
            let id = id.clone();
            tokio::spawn(async move { store.accept_totp_step(&id, step, 0, now).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for t in tries {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1);
}

async fn wrong_codes_count_up_and_lock_the_factor_at_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    let id = app.customer().code("C0001004").create().await.sub;
    let now = app.clock.now();
    let sealed = data_key(&app)
        .seal(&totp::new_secret(), id.as_bytes())
        .unwrap();
    store.enroll_totp(&id, &sealed, now).await.unwrap();

    // Each try is claimed before its code is checked; a right code gives its try back.
    let claim = || async {
        store
            .claim_totp_try(&id, MAX_FAILURES, now)
            .await
            .unwrap()
            .map(|s| s.failures)
    };
    for expected in 1..MAX_FAILURES {
        assert_eq!(claim().await, Some(expected));
    }
    let mut step = totp::step_at(now);
    let last = claim().await.unwrap();
    assert_eq!(last, MAX_FAILURES, "the fifth try is still allowed");
    assert!(
        store.accept_totp_step(&id, step, last, now).await.unwrap(),
        "a right fifth code"
    );
    assert_eq!(
        store.totp_state(&id).await.unwrap().unwrap().failures,
        0,
        "a success clears the count"
    );

    for expected in 1..=MAX_FAILURES {
        assert_eq!(claim().await, Some(expected));
    }
    assert_eq!(claim().await, None, "locked at {MAX_FAILURES}");
    step += 1;
    assert_eq!(
        store.totp_state(&id).await.unwrap().unwrap().failures,
        MAX_FAILURES
    );
    assert!(
        store
            .claim_totp_try("no-such-customer", MAX_FAILURES, now)
            .await
            .unwrap()
            .is_none()
    );

    // Re-enrolment by the operator starts afresh.
    let resealed = data_key(&app)
        .seal(&totp::new_secret(), id.as_bytes())
        .unwrap();
    store.set_pending_totp(&id, "stale", now).await.unwrap();
    store.enroll_totp(&id, &resealed, now).await.unwrap();
    let state = store.totp_state(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            state.sealed_secret.as_str(),
            state.last_step,
            state.failures
        ),
        (resealed.as_str(), None, 0)
    );
    assert_eq!(store.pending_totp(&id).await.unwrap(), None);
    assert!(store.accept_totp_step(&id, step, 0, now).await.unwrap());
}

async fn a_seed_sealed_for_one_customer_does_not_open_for_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;
    let alice = app.customer().code("C0001005").create().await.sub;
    let bob = app.customer().code("C0001006").create().await.sub;
    let now = app.clock.now();
    let key = data_key(&app);
    let seed = totp::new_secret();
    store
        .enroll_totp(&alice, &key.seal(&seed, alice.as_bytes()).unwrap(), now)
        .await
        .unwrap();

    // Copy Alice's sealed seed into Bob's row, as a database attacker might.
    let stolen = store
        .totp_state(&alice)
        .await
        .unwrap()
        .unwrap()
        .sealed_secret;
    store.enroll_totp(&bob, &stolen, now).await.unwrap();
    let copied = store.totp_state(&bob).await.unwrap().unwrap().sealed_secret;
    assert!(matches!(
        key.open(&copied, bob.as_bytes()),
        Err(kagi::error::Error::Internal(_))
    ));
    assert_eq!(key.open(&copied, alice.as_bytes()).unwrap(), seed);
}
