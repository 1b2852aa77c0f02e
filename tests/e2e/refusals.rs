//! Every malformed or refused request gets a 4xx with the protocol's error body and stores
//! nothing.

use serde_json::json;

use crate::harness::{TestServer, DOMAIN, PASSWORD};
use crate::openssl::{actor_subject, Key, ACTOR_EXTENSIONS};

const REGISTER: &str = "/p2core/register";
const TRUST: &str = "/p2core/session/trust";

#[test]
fn malformed_register_bodies() {
    let server = TestServer::start_with("body_limit_bytes = 2048");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "not JSON",
            "{actor_name: alice".into(),
            400,
            "P2CORE_INVALID_BODY",
        ),
        ("empty body", String::new(), 400, "P2CORE_INVALID_BODY"),
        (
            "missing auth_payload",
            json!({"actor_name": "alice"}).to_string(),
            400,
            "P2CORE_INVALID_BODY",
        ),
        (
            "missing actor_name",
            json!({"auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_BODY",
        ),
        (
            "name not a string",
            json!({"actor_name": 7, "auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_BODY",
        ),
        (
            "password not a string",
            json!({"actor_name": "a", "auth_payload": {"password": 1}}).to_string(),
            400,
            "P2CORE_INVALID_BODY",
        ),
        ("array body", "[]".into(), 400, "P2CORE_INVALID_BODY"),
        (
            "too large",
            json!({"actor_name": "a", "auth_payload": {"password": "x".repeat(4096)}}).to_string(),
            413,
            "P2CORE_BODY_TOO_LARGE",
        ),
        (
            "name with space",
            json!({"actor_name": "al ice", "auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_ACTOR_NAME",
        ),
        (
            "name with @",
            json!({"actor_name": "alice@x", "auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_ACTOR_NAME",
        ),
        (
            "empty name",
            json!({"actor_name": "", "auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_ACTOR_NAME",
        ),
        (
            "65-byte name",
            json!({"actor_name": "a".repeat(65), "auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_ACTOR_NAME",
        ),
        (
            "non-ASCII name",
            json!({"actor_name": "zoë", "auth_payload": {"password": "x"}}).to_string(),
            400,
            "P2CORE_INVALID_ACTOR_NAME",
        ),
        (
            "empty password",
            json!({"actor_name": "alice", "auth_payload": {"password": ""}}).to_string(),
            400,
            "P2CORE_INVALID_PASSWORD",
        ),
        (
            "1025-byte password",
            json!({"actor_name": "alice", "auth_payload": {"password": "p".repeat(1025)}})
                .to_string(),
            400,
            "P2CORE_INVALID_PASSWORD",
        ),
    ];
    for (what, body, status, error) in cases {
        let answer = server.post_raw(REGISTER, "application/json", body);
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        answer.assert_error(status, error);
    }
    server
        .post_raw(
            REGISTER,
            "text/plain",
            json!({"actor_name": "a", "auth_payload": {"password": "x"}}).to_string(),
        )
        .assert_error(415, "P2CORE_UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(
        server.store().count_actors().unwrap(),
        0,
        "a refused registration stored an actor"
    );
}

#[test]
fn unknown_routes_and_methods() {
    let server = TestServer::start();
    server
        .get("/p2core/nothing-here")
        .assert_error(404, "P2CORE_NOT_FOUND");
    let answer = server.get(REGISTER);
    answer.assert_error(405, "P2CORE_METHOD_NOT_ALLOWED");
    assert_eq!(answer.headers["allow"], "POST");
    let answer = server.send(server.http.post(server.url("/p2core/key/server")));
    answer.assert_error(405, "P2CORE_METHOD_NOT_ALLOWED");
    assert_eq!(answer.headers["allow"], "GET, HEAD, PUT");
}

#[test]
fn wrong_password_and_unknown_actor_get_the_same_401() {
    let server = TestServer::start();
    server.register("alice");
    let csr = Key::ed25519(server.data_dir(), "k").actor_csr("alice", "s");
    let wrong = server.trust("alice", "not the password", &csr);
    wrong.assert_error(401, "P2CORE_UNAUTHORIZED");
    let unknown = server.trust("mallory", PASSWORD, &csr);
    unknown.assert_error(401, "P2CORE_UNAUTHORIZED");
    assert_eq!(wrong.body, unknown.body);
    server
        .trust("not a name!", PASSWORD, &csr)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    assert_eq!(server.cert_count("alice"), 0);
    assert!(
        !server.logs().contains("not the password"),
        "a password reached the log"
    );
    // Nor does one put in a query string (where no route takes it, and unknown parameters are
    // ignored): the access log has paths without their query.
    let answer = server.get("/p2core/key/server?password=in-the-query");
    assert_eq!(answer.status, 200);
    // The access log line is written as the response ends, which may be just after the client
    // has it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !server.logs().contains("GET /p2core/key/server 200") {
        assert!(
            std::time::Instant::now() < deadline,
            "no access log line:\n{}",
            server.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let logs = server.logs();
    assert!(!logs.contains("in-the-query"), "a password reached the log");
}

#[test]
fn bearer_tokens_are_checked() {
    let server = TestServer::start();
    server
        .send(server.http.put(server.url("/p2core/session/revoke")))
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    server
        .put_with_token("/p2core/session/revoke", "bm90IGEgdG9rZW4")
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    let basic = server.send(
        server
            .http
            .put(server.url("/p2core/session/revoke"))
            .basic_auth("alice", Some("pw")),
    );
    basic.assert_error(401, "P2CORE_UNAUTHORIZED");
}

/// Changes the DER inside a PEM: flips the last bit of the signature, or with `swap`, replaces
/// the first occurrence of one byte string in the signed part with another of the same length.
fn tamper(pem: &str, swap: Option<(&[u8], &[u8])>) -> String {
    let (label, mut der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    match swap {
        None => *der.last_mut().unwrap() ^= 0x01,
        Some((from, to)) => {
            let at = der
                .windows(from.len())
                .position(|w| w == from)
                .expect("bytes to swap");
            der[at..at + to.len()].copy_from_slice(to);
        }
    }
    der::pem::encode_string(label, der::pem::LineEnding::LF, &der).unwrap()
}

#[test]
fn malformed_and_lying_csrs_are_refused() {
    let server = TestServer::start();
    server.register("alice");
    server.register("bob");
    let dir = server.data_dir();
    let key = Key::ed25519(dir, "alice");
    let good = key.actor_csr("alice", "s1");
    let dcs: String = DOMAIN.split('.').map(|l| format!("/DC={l}")).collect();
    let uid = format!("/UID=alice@{DOMAIN}");
    let with = |subject: String, exts: &[&str]| key.csr(&subject, exts);

    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not PEM", "hello".into(), 400, "P2CORE_CSR_MALFORMED"),
        ("empty", String::new(), 400, "P2CORE_CSR_MALFORMED"),
        (
            "garbage DER",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAECAwQF\n-----END CERTIFICATE REQUEST-----\n"
                .into(),
            400,
            "P2CORE_CSR_MALFORMED",
        ),
        (
            "a certificate, not a CSR",
            server.server_cert(),
            400,
            "P2CORE_CSR_MALFORMED",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_owned(),
            400,
            "P2CORE_CSR_MALFORMED",
        ),
        (
            "forged signature",
            tamper(&good, None),
            400,
            "P2CORE_CSR_SIGNATURE_INVALID",
        ),
        (
            "UID changed after signing",
            tamper(&good, Some((b"alice@", b"bobby@"))),
            400,
            "P2CORE_CSR_SIGNATURE_INVALID",
        ),
        (
            "P-256 key",
            Key::p256(dir, "ec").actor_csr("alice", "s1"),
            400,
            "P2CORE_UNSUPPORTED_KEY_ALGORITHM",
        ),
        (
            "CN of another actor",
            with(
                format!("/CN=bob{dcs}{uid}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_COMMON_NAME_MISMATCH",
        ),
        (
            "no CN",
            with(format!("{dcs}{uid}/uniqueIdentifier=s1"), &ACTOR_EXTENSIONS),
            400,
            "P2CORE_CSR_COMMON_NAME_MISMATCH",
        ),
        (
            "two CNs",
            with(
                format!("/CN=alice/CN=alice{dcs}{uid}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_COMMON_NAME_MISMATCH",
        ),
        (
            "other domain",
            with(
                format!("/CN=alice/DC=evil/DC=test{uid}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_DOMAIN_MISMATCH",
        ),
        (
            "DCs reversed",
            with(
                format!("/CN=alice/DC=test/DC=polyhome{uid}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_DOMAIN_MISMATCH",
        ),
        (
            "DC missing",
            with(
                format!("/CN=alice/DC=polyhome{uid}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_DOMAIN_MISMATCH",
        ),
        (
            "UID of bob",
            with(
                format!("/CN=alice{dcs}/UID=bob@{DOMAIN}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_FEDERATION_ID_MISMATCH",
        ),
        (
            "no UID",
            with(
                format!("/CN=alice{dcs}/uniqueIdentifier=s1"),
                &ACTOR_EXTENSIONS,
            ),
            400,
            "P2CORE_CSR_FEDERATION_ID_MISMATCH",
        ),
        (
            "no session ID",
            with(format!("/CN=alice{dcs}{uid}"), &ACTOR_EXTENSIONS),
            400,
            "P2CORE_CSR_SESSION_ID_INVALID",
        ),
        (
            "33-char session ID",
            with(actor_subject("alice", &"x".repeat(33)), &ACTOR_EXTENSIONS),
            400,
            "P2CORE_CSR_SESSION_ID_INVALID",
        ),
        (
            "no key usage",
            with(
                actor_subject("alice", "s1"),
                &["basicConstraints=critical,CA:FALSE"],
            ),
            400,
            "P2CORE_CSR_KEY_USAGE_INVALID",
        ),
        (
            "key usage without signing",
            with(
                actor_subject("alice", "s1"),
                &["keyUsage=critical,keyAgreement"],
            ),
            400,
            "P2CORE_CSR_KEY_USAGE_INVALID",
        ),
        (
            "keyCertSign",
            with(
                actor_subject("alice", "s1"),
                &["keyUsage=critical,digitalSignature,keyCertSign"],
            ),
            400,
            "P2CORE_CSR_KEY_USAGE_INVALID",
        ),
        (
            "CA requested",
            with(
                actor_subject("alice", "s1"),
                &[
                    "keyUsage=critical,digitalSignature",
                    "basicConstraints=critical,CA:TRUE",
                ],
            ),
            400,
            "P2CORE_CSR_CA_REQUESTED",
        ),
    ];
    for (what, csr, status, error) in &cases {
        let answer = server.trust("alice", PASSWORD, csr);
        assert_eq!(answer.status, *status, "{what}: {}", answer.body);
        answer.assert_error(*status, error);
    }
    assert_eq!(
        server.cert_count("alice"),
        0,
        "a refused CSR stored a certificate"
    );

    // Malformed trust bodies.
    for (what, body) in [
        ("not JSON", "nope".to_owned()),
        (
            "missing csr",
            json!({"actor_name": "alice", "auth_payload": {"password": PASSWORD}}).to_string(),
        ),
        (
            "csr not a string",
            json!({"actor_name": "alice", "csr": [1], "auth_payload": {"password": PASSWORD}})
                .to_string(),
        ),
        (
            "missing auth_payload",
            json!({"actor_name": "alice", "csr": good}).to_string(),
        ),
    ] {
        let answer = server.post_raw(TRUST, "application/json", body);
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        answer.assert_error(400, "P2CORE_INVALID_BODY");
    }
    // And after all that, the good CSR still works.
    let answer = server.trust("alice", PASSWORD, &good);
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(server.cert_count("alice"), 1);
    assert_eq!(server.cert_count("bob"), 0);
}

#[test]
fn oversized_get_bodies_get_the_protocol_error() {
    let server = TestServer::start_with("body_limit_bytes = 2048");
    let body = json!({"timestamp": "1", "padding": "x".repeat(4096)}).to_string();
    let answer = server.send(server.http.get(server.url("/p2core/key/server")).body(body));
    answer.assert_error(413, "P2CORE_BODY_TOO_LARGE");
    let answer = server.send(
        server
            .http
            .get(server.url("/p2core/key/server"))
            .body("{not json"),
    );
    answer.assert_error(400, "P2CORE_INVALID_BODY");
}

#[test]
fn a_body_not_sent_in_time_gets_408_and_stores_nothing() {
    use std::io::{Read, Write};

    let server = TestServer::start_with("request_timeout_secs = 1");
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let part = br#"{"actor_name": "slow", "auth_payload": {"#;
    write!(
        stream,
        "POST {REGISTER} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.write_all(part).unwrap();
    // The rest never comes; the server must answer on its own.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#""error":"P2CORE_REQUEST_TIMEOUT""#),
        "{answer}"
    );
    // Nothing was stored: the name is still free.
    assert_eq!(server.register("slow"), format!("slow@{DOMAIN}"));
}

#[test]
fn work_slower_than_the_request_timeout_is_not_cut_off() {
    // Password hashing far slower than the 1 s deadline: the deadline is for receiving the
    // request, so the registration completes and is answered, rather than answered 408 and
    // completed anyway.
    let server = TestServer::start_with(
        "request_timeout_secs = 1\n[password_hashing]\nmemory_kib = 65536\niterations = 40\n",
    );
    let started = std::time::Instant::now();
    let answer = server.post(
        REGISTER,
        &json!({"actor_name": "patient", "auth_payload": {"password": PASSWORD}}),
    );
    let took = started.elapsed();
    assert!(
        took > std::time::Duration::from_secs(1),
        "hashing took only {took:?}: the test needs it slower than the deadline"
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
}
