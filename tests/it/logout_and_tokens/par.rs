//! `POST /par` and pushed requests at `/authorize` (RFC 9126).

use super::*;

both_backends!(
    discovery_lists_par_revocation_introspection_and_logout,
    a_pushed_request_completes_the_flow_once_and_expires_after_sixty_seconds,
    a_client_that_requires_par_is_refused_without_it_and_served_with_it
);

async fn discovery_lists_par_revocation_introspection_and_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        app.url("/par")
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert_eq!(doc["revocation_endpoint"], app.url("/revoke"));
    assert_eq!(doc["introspection_endpoint"], app.url("/introspect"));
    assert_eq!(doc["end_session_endpoint"], app.url("/session/end"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
    assert!(
        doc["revocation_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none"))
    );
    assert!(
        !doc["introspection_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none"))
    );
}

async fn a_pushed_request_completes_the_flow_once_and_expires_after_sixty_seconds(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let pushed = push(&app, &client, &[]).await;
    assert_eq!(pushed.status, 201, "{}", pushed.json);
    assert_eq!(pushed.cache_control.as_deref(), Some("no-store"));
    assert_eq!(pushed.json["expires_in"], 60);
    let request_uri = pushed.json["request_uri"].as_str().unwrap().to_owned();
    assert!(
        request_uri.starts_with(PAR_PREFIX) && request_uri.len() >= PAR_PREFIX.len() + 43,
        "{request_uri}"
    );

    let only_uri = [
        ("client_id", client.id.as_str()),
        ("request_uri", request_uri.as_str()),
    ];
    let page = authorize_raw(&app, &only_uri).await;
    assert_eq!(
        location_param(&page, "state").as_deref(),
        Some("pushed-state")
    );
    let tokens = redeem(&app, &client, &page).await;
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["nonce"],
        "pushed-nonce"
    );

    let again = authorize_raw(&app, &only_uri).await;
    assert_eq!(again.status, 400, "a request_uri is single use");
    assert!(again.location.is_none());

    let late = push(&app, &client, &[]).await.json["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(61);
    let expired = authorize_raw(&app, &[("client_id", &client.id), ("request_uri", &late)]).await;
    assert_eq!(expired.status, 400, "a request_uri lives 60 s");
    assert!(expired.location.is_none());

    let other = add_client(&app, "other", &[]);
    let theirs = push(&app, &client, &[]).await.json["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let stolen = authorize_raw(&app, &[("client_id", &other.id), ("request_uri", &theirs)]).await;
    assert!(
        stolen.location.is_none(),
        "a request_uri is bound to its client"
    );
}

async fn a_client_that_requires_par_is_refused_without_it_and_served_with_it(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "strict", &["--require-par"]);
    let plain = authorize(&app, &client, &[]).await;
    assert_eq!(
        location_param(&plain, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(location_param(&plain, "state").as_deref(), Some("st4te"));

    let request_uri = push(&app, &client, &[]).await.json["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = authorize_raw(
        &app,
        &[("client_id", &client.id), ("request_uri", &request_uri)],
    )
    .await;
    redeem(&app, &client, &page).await;
}
