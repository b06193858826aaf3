//! A tiny trading site that logs customers in through Kagi and has every
//! trade and withdrawal confirmed with a passkey that signs the transaction
//! itself (`docs/transactions.md`).
//!
//! It is a confidential OpenID Connect client built on the `openidconnect`
//! crate (the routes are in `app.rs`). "Buy" pushes a limit order and
//! "Withdraw" a withdrawal as RFC 9396 `authorization_details` by PAR; Kagi
//! shows the transaction and asks for a passkey assertion bound to it, and
//! the demo "executes" only when the tokens grant exactly what it asked,
//! showing the confirmation's `txn`. Register the client with
//! `--authorization-details-type withdrawal --authorization-details-type order`.
//!
//! ```sh
//! DEMO_CLIENT_ID=trading-demo DEMO_CLIENT_SECRET=... cargo run --example trading_demo
//! ```
//! Settings: `DEMO_ISSUER` (default `http://localhost:8080`), `DEMO_LISTEN`
//! (`127.0.0.1:3000`), `DEMO_BASE_URL` (`http://localhost:3000`).
//! `examples/demo.sh` registers the client and a demo customer and starts it.

mod app;
mod details;
mod flow;
mod logout;
mod page;
mod par;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("set {name} (examples/demo.sh registers a client and sets it)");
        std::process::exit(2)
    })
}

#[tokio::main]
async fn main() {
    let listen = env("DEMO_LISTEN", "127.0.0.1:3000");
    let base_url = env("DEMO_BASE_URL", "http://localhost:3000");
    let config = app::DemoConfig {
        issuer: env("DEMO_ISSUER", "http://localhost:8080"),
        base_url: base_url.clone(),
        client_id: required("DEMO_CLIENT_ID"),
        client_secret: required("DEMO_CLIENT_SECRET"),
    };
    let issuer = config.issuer.clone();
    let router = match app::router(config).await {
        Ok(router) => router,
        Err(e) => {
            eprintln!("{e} (is Kagi running? `cargo run --release -- serve`)");
            std::process::exit(1)
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            std::process::exit(1)
        }
    };
    println!("trading demo on {base_url} (issuer {issuer})");
    println!(
        "registered URIs: redirect {}, post-logout {}, back-channel logout {}",
        app::redirect_uri(&base_url),
        app::post_logout_redirect_uri(&base_url),
        app::backchannel_logout_uri(&base_url)
    );
    if let Err(e) = axum::serve(listener, router).await {
        eprintln!("the demo stopped: {e}");
        std::process::exit(1)
    }
}
