//! `GET /p2core/key/server` and `GET /p2core/key/actor/{fid}`

use serde_json::json;

use crate::harness::{TestServer, DOMAIN, PASSWORD};
use crate::openssl::Key;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn server_key_by_timestamp_as_query_or_body() {
    let server = TestServer::start();
    let current = server.server_cert();
    assert!(
        current.starts_with("-----BEGIN CERTIFICATE-----"),
        "{current}"
    );
    let by_query = server.get(&format!("/p2core/key/server?timestamp={}", now()));
    assert_eq!(by_query.body, json!(current));
    let body = json!({"timestamp": now().to_string()});
    let by_body = server.send(
        server
            .http
            .get(server.url("/p2core/key/server"))
            .json(&body),
    );
    assert_eq!(by_body.body, json!(current));
    server
        .get("/p2core/key/server?timestamp=1000")
        .assert_error(404, "P2CORE_CERTIFICATE_NOT_FOUND");
    server
        .get("/p2core/key/server?timestamp=yesterday")
        .assert_error(400, "P2CORE_INVALID_PARAMETER");
}

#[test]
fn actor_keys_filter_by_session_and_time() {
    let server = TestServer::start();
    server.register("alice");
    let key = Key::ed25519(server.data_dir(), "alice");
    let a = server.trust("alice", PASSWORD, &key.actor_csr("alice", "a"));
    let b = server.trust("alice", PASSWORD, &key.actor_csr("alice", "b"));
    let (a, b) = (a.body["id_cert"].clone(), b.body["id_cert"].clone());
    let path = format!("/p2core/key/actor/alice@{DOMAIN}");
    assert_eq!(server.get(&path).body, json!([a, b]));
    assert_eq!(server.get(&format!("{path}?session_id=b")).body, json!([b]));
    assert_eq!(
        server.get(&format!("{path}?session_id=zzz")).body,
        json!([])
    );
    assert_eq!(
        server.get(&format!("{path}?timestamp=1000")).body,
        json!([])
    );
    assert_eq!(
        server
            .get(&format!("{path}?timestamp={}&session_id=a", now()))
            .body,
        json!([a])
    );
    // Federation IDs are case-insensitive.
    assert_eq!(
        server
            .get(&format!(
                "/p2core/key/actor/ALICE@{}",
                DOMAIN.to_uppercase()
            ))
            .body,
        json!([a, b])
    );
}

#[test]
fn actor_keys_of_strangers_are_404() {
    let server = TestServer::start();
    server.register("alice");
    server
        .get(&format!("/p2core/key/actor/nobody@{DOMAIN}"))
        .assert_error(404, "P2CORE_ACTOR_NOT_FOUND");
    server
        .get("/p2core/key/actor/alice@elsewhere.example")
        .assert_error(404, "P2CORE_ACTOR_NOT_FOUND");
    server
        .get("/p2core/key/actor/not-a-fid")
        .assert_error(400, "P2CORE_INVALID_PARAMETER");
    let long = "a".repeat(33);
    server
        .get(&format!(
            "/p2core/key/actor/alice@{DOMAIN}?session_id={long}"
        ))
        .assert_error(400, "P2CORE_INVALID_PARAMETER");
}
