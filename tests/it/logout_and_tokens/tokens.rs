//! `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662).

use super::*;

both_backends!(
    par_refuses_wrong_client_authentication_and_invalid_requests,
    revoking_a_refresh_token_kills_its_whole_family,
    revoking_an_access_token_ends_only_it_and_unknown_tokens_still_get_200,
    introspection_describes_active_tokens_with_their_assurance,
    another_client_can_neither_introspect_nor_revoke_my_tokens
);

async fn par_refuses_wrong_client_authentication_and_invalid_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = add_client(&app, "trading", &[]);
    let impostor = Client {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    let refused = push(&app, &impostor, &[]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json["error"], "invalid_client");
    let mismatch = push(&app, &client, &[("client_id", "someone-else")]).await;
    assert_eq!(
        (mismatch.status, mismatch.json["error"].as_str()),
        (401, Some("invalid_client")),
        "the body's client_id must be the authenticated one"
    );

    let table: &[(&[(&str, &str)], &str)] = &[
        (
            &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
        ),
        (&[("response_type", "token")], "unsupported_response_type"),
        (
            &[
                ("code_challenge", "abc"),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
    ];
    for (extra, expected) in table {
        let answer = push(&app, &client, extra).await;
        assert_eq!(answer.status, 400, "{extra:?}: {}", answer.json);
        assert_eq!(answer.json["error"], *expected, "{extra:?}");
    }
    let unregistered = post_form(
        &app,
        "/par",
        Some(&client),
        &[
            ("response_type", "code"),
            ("redirect_uri", "https://rp.example.com/elsewhere"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(
        (unregistered.status, unregistered.json["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let put = reqwest::Client::new()
        .put(app.url("/par"))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_client_error());
}

async fn revoking_a_refresh_token_kills_its_whole_family(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    assert_eq!(userinfo_status(&app, &tokens).await, 200);

    let form = [
        ("token", tokens["refresh_token"].as_str().unwrap()),
        ("token_type_hint", "refresh_token"),
    ];
    let revoked = post_form(&app, "/revoke", Some(&client), &form).await;
    assert_eq!(revoked.status, 200);

    let after = refresh(&app, &client, &tokens).await;
    assert_eq!(
        (after.status, after.json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo_status(&app, &tokens).await,
        401,
        "the family's access token died too"
    );
    let audit = app.state.store.list_audit_events(None, 50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "token.revoked" && e.client_id.as_deref() == Some("trading"))
    );
}

async fn revoking_an_access_token_ends_only_it_and_unknown_tokens_still_get_200(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    let form = [
        ("token", tokens["access_token"].as_str().unwrap()),
        ("token_type_hint", "something_else"),
    ];
    assert_eq!(
        post_form(&app, "/revoke", Some(&client), &form)
            .await
            .status,
        200
    );
    assert_eq!(userinfo_status(&app, &tokens).await, 401);
    assert_eq!(
        refresh(&app, &client, &tokens).await.status,
        200,
        "the grant itself lives on"
    );

    for junk in ["not-a-token", "eyJhbGciOiJub25lIn0.e30.", ""] {
        assert_eq!(
            post_form(&app, "/revoke", Some(&client), &[("token", junk)])
                .await
                .status,
            200,
            "{junk}"
        );
    }
    let missing = post_form(&app, "/revoke", Some(&client), &[]).await;
    assert_eq!(
        (missing.status, missing.json["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let impostor = Client {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    let refused = post_form(&app, "/revoke", Some(&impostor), &[("token", "x")]).await;
    assert_eq!(
        (refused.status, refused.json["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

async fn introspection_describes_active_tokens_with_their_assurance(backend: Backend) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    let access = post_form(
        &app,
        "/introspect",
        Some(&client),
        &[("token", tokens["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(access.status, 200);
    assert_eq!(access.cache_control.as_deref(), Some("no-store"));
    let body = &access.json;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], "trading");
    assert_eq!(body["sub"], sub.as_str());
    assert_eq!(body["iss"], app.base.as_str());
    assert_eq!(body["acr"], "urn:kagi:acr:mfa");
    assert!(
        body["auth_time"].is_i64()
            && body["exp"].is_i64()
            && body["iat"].is_i64()
            && body["jti"].is_string()
    );
    assert!(
        body["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "openid")
    );
    assert_eq!(body["amr"], json!(["pwd", "otp", "mfa"]));

    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let by_refresh = post_form(
        &app,
        "/introspect",
        Some(&client),
        &[("token", refresh_token)],
    )
    .await
    .json;
    assert_eq!(by_refresh["active"], true, "{by_refresh}");
    assert_eq!(by_refresh["token_type"], "refresh_token");
    assert_eq!(by_refresh["acr"], "urn:kagi:acr:mfa");
    assert_eq!(by_refresh["auth_time"], body["auth_time"]);

    let junk = post_form(&app, "/introspect", Some(&client), &[("token", "nonsense")])
        .await
        .json;
    assert_eq!(junk, json!({ "active": false }));
    post_form(&app, "/revoke", Some(&client), &[("token", refresh_token)]).await;
    for token in [tokens["access_token"].as_str().unwrap(), refresh_token] {
        let after = post_form(&app, "/introspect", Some(&client), &[("token", token)])
            .await
            .json;
        assert_eq!(
            after,
            json!({ "active": false }),
            "revoked tokens are inactive"
        );
    }
}

async fn another_client_can_neither_introspect_nor_revoke_my_tokens(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let mine = add_client(&app, "trading", &[]);
    let theirs = add_client(&app, "intruder", &[]);
    let tokens = code_flow(&app, &mine).await;
    for name in ["access_token", "refresh_token"] {
        let token = tokens[name].as_str().unwrap();
        let seen = post_form(&app, "/introspect", Some(&theirs), &[("token", token)]).await;
        assert_eq!(seen.json, json!({ "active": false }), "{name}");
        let revoked = post_form(&app, "/revoke", Some(&theirs), &[("token", token)]).await;
        assert_eq!(
            (revoked.status, revoked.json["error"].as_str()),
            (400, Some("unauthorized_client")),
            "{name}"
        );
    }
    assert_eq!(userinfo_status(&app, &tokens).await, 200);
    assert_eq!(refresh(&app, &mine, &tokens).await.status, 200);

    let public = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            "native",
            "--name",
            "App",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ],
        None,
    );
    assert!(public.success, "{public:?}");
    let form = [
        ("client_id", "native"),
        ("token", tokens["access_token"].as_str().unwrap()),
    ];
    let refused = post_form(&app, "/introspect", None, &form).await;
    assert_eq!(
        (refused.status, refused.json["error"].as_str()),
        (401, Some("invalid_client")),
        "public clients cannot introspect"
    );
}
