//! `POST /p2core/register`

use serde_json::json;

use crate::harness::{concurrently, TestServer, DOMAIN, PASSWORD};

#[test]
fn register_answers_the_federation_id() {
    let server = TestServer::start();
    let answer = server.post(
        "/p2core/register",
        &json!({"actor_name": "alice", "auth_payload": {"password": PASSWORD}}),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body, json!({"fid": format!("alice@{DOMAIN}")}));
    assert_eq!(server.store().count_actors().unwrap(), 1);
    // The password is kept only as an argon2id hash.
    let actor = server.store().actor("alice").unwrap().unwrap();
    assert!(
        actor.password_hash.starts_with("$argon2id$"),
        "{}",
        actor.password_hash
    );
    assert!(!actor.password_hash.contains(PASSWORD));
}

#[test]
fn names_are_case_insensitive_and_folded() {
    let server = TestServer::start();
    assert_eq!(
        server.register("Alice.Smith"),
        format!("alice.smith@{DOMAIN}")
    );
    let again = server.post(
        "/p2core/register",
        &json!({"actor_name": "ALICE.smith", "auth_payload": {"password": "x"}}),
    );
    again.assert_error(409, "P2CORE_FEDERATION_ID_TAKEN");
    assert_eq!(server.store().count_actors().unwrap(), 1);
}

#[test]
fn auth_payload_may_be_a_json_string() {
    // The polyproto library of May 2024 sends auth_payload as a string holding JSON.
    let server = TestServer::start();
    let payload = json!({"password": PASSWORD}).to_string();
    let answer = server.post(
        "/p2core/register",
        &json!({"actor_name": "bob", "auth_payload": payload}),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
}

#[test]
fn concurrent_registrations_of_one_name_give_exactly_one_201() {
    let server = TestServer::start();
    let statuses = concurrently(20, 201, (409, "P2CORE_FEDERATION_ID_TAKEN"), |i| {
        let body = json!({"actor_name": "racer", "auth_payload": {"password": format!("pw{i}")}});
        server.post("/p2core/register", &body)
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(server.store().count_actors().unwrap(), 1);
}

#[test]
fn the_sqlite_database_holding_the_key_is_readable_by_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start();
    let Some(file) = server.sqlite_file() else {
        return; // PostgreSQL keeps its own files.
    };
    server.register("alice");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(file), 0o600, "{}", file.display());
    let wal = std::path::PathBuf::from(format!("{}-wal", file.display()));
    assert_eq!(mode(&wal), 0o600, "{}", wal.display());
    assert_eq!(mode(file.parent().unwrap()), 0o700);
}
