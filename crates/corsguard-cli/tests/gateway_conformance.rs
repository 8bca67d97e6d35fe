//! The conformance table (`crates/test-support/data/conformance.toml`) through the third of
//! corsguard's paths: the gateway, over real HTTP on loopback, in front of a real upstream. The
//! engine's `decide` and the tower layer run the same table in
//! `crates/corsguard/tests/conformance.rs`.

use http::{Method, StatusCode};
use test_support::conformance::{cors_headers, table};
use test_support::gateway::{gateway, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_through_the_gateway() {
    let table = table();
    let up = upstream().await;
    let mut failures = Vec::new();
    for case in &table.cases {
        let running = gateway(table.policy_of(case), &up.url(), |_| {}).await;
        let before = up.hits();
        let method = Method::from_bytes(case.method.as_bytes()).unwrap();
        let headers: Vec<(&str, &str)> = case.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let reply = running.client.send(method, &case.path, &headers).await;
        let forwarded = up.hits() == before + 1;
        let status = (!forwarded).then(|| reply.status.as_u16());
        let got = (forwarded, status, cors_headers(&reply.headers));
        let want = (case.forwarded, case.status, case.expect.clone());
        if got != want {
            failures.push(format!("{}\n   got: {got:?}\n  want: {want:?}", case.name));
        }
        // What the upstream answered reaches the client, with the policy's headers only. (A
        // WebSocket handshake the upstream does not upgrade is the gateway's 502 or the
        // upstream's answer; tests/gateway_websocket.rs covers the tunnel itself.)
        if forwarded && case.header("upgrade").is_none() {
            assert_eq!(reply.status, StatusCode::OK, "{}", case.name);
            assert_eq!(reply.text(), "ok", "{}", case.name);
            assert_eq!(up.last().path, case.path, "{}", case.name);
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}
