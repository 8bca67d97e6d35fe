//! corsguard in an axum app: one `.layer(...)`.
//!
//! Run it from the repository root:
//!   cargo run -p corsguard --features tower --example axum
//!   curl -i -X OPTIONS http://127.0.0.1:3000/api/items \
//!     -H 'Origin: http://localhost:5173' -H 'Access-Control-Request-Method: PUT'

use axum::{routing::get, Router};
use corsguard::{tower::CorsLayer, Policy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Profiles: development allows localhost, production a strict allowlist.
    let profile = std::env::var("CORSGUARD_PROFILE").unwrap_or_else(|_| "development".into());
    let policy = Policy::from_toml(include_str!("corsguard.toml"), Some(&profile))?;

    let app = Router::new()
        .route("/api/items", get(|| async { "[]" }).put(|| async { "updated" }))
        .route("/public/logo.svg", get(|| async { "<svg/>" }))
        .layer(CorsLayer::new(policy));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
