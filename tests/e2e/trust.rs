//! `POST /p2core/session/trust` and `PUT /p2core/session/revoke` with OpenSSL-made ID-CSRs.

use serde_json::json;

use crate::harness::{concurrently, now, TestServer, DOMAIN, PASSWORD};
use crate::openssl::{openssl, write, Key};

#[test]
fn openssl_csr_gets_an_id_cert_that_openssl_verifies() {
    let server = TestServer::start();
    server.register("alice");
    let dir = server.data_dir();
    let key = Key::ed25519(dir, "alice");
    let answer = server.trust("alice", PASSWORD, &key.actor_csr("alice", "laptop-1"));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id_cert = answer.body["id_cert"].as_str().unwrap();
    let token = answer.body["token"].as_str().unwrap();
    assert!(
        token.len() >= 43,
        "a token carries at least 256 bits: {token}"
    );

    write(dir, "server.pem", &server.server_cert());
    write(dir, "alice.pem", id_cert);
    let verified = openssl(dir, &["verify", "-CAfile", "server.pem", "alice.pem"]);
    assert_eq!(verified.trim(), "alice.pem: OK");

    // The certificate carries what §7.1 demands.
    let text = openssl(
        dir,
        &[
            "x509",
            "-in",
            "alice.pem",
            "-noout",
            "-text",
            "-nameopt",
            "RFC2253",
        ],
    );
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert!(text.contains("Signature Algorithm: ED25519"), "{text}");
    assert!(
        text.contains("Issuer: DC=test,DC=polyhome"),
        "issuer is the server's DC name:\n{text}"
    );
    assert!(text.contains(&format!("UID=alice@{DOMAIN}")), "{text}");
    assert!(text.contains("CN=alice"), "{text}");
    assert!(
        text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature"),
        "{text}"
    );
    // The issued key is the requested one.
    let cert_key = openssl(dir, &["x509", "-in", "alice.pem", "-noout", "-pubkey"]);
    let csr_key = openssl(dir, &["pkey", "-in", &key.file, "-pubout"]);
    assert_eq!(cert_key, csr_key);

    // The root certificate: self-signed, no CN, CA with path length 0, keyCertSign, critical.
    let root = openssl(
        dir,
        &[
            "x509",
            "-in",
            "server.pem",
            "-noout",
            "-text",
            "-nameopt",
            "RFC2253",
        ],
    );
    assert!(root.contains("Subject: DC=test,DC=polyhome"), "{root}");
    assert!(!root.contains("CN="), "{root}");
    assert!(
        root.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"),
        "{root}"
    );
    assert!(
        root.contains("X509v3 Key Usage: critical\n                Certificate Sign"),
        "{root}"
    );
    assert_eq!(
        openssl(dir, &["verify", "-CAfile", "server.pem", "server.pem"]).trim(),
        "server.pem: OK"
    );

    // The certificate is stored and served, and the token is never logged.
    let served = server.get(&format!("/p2core/key/actor/alice@{DOMAIN}"));
    assert_eq!(served.status, 200);
    assert_eq!(served.body, json!([id_cert]));
    let logs = server.logs();
    assert!(!logs.contains(token), "the token appears in the log");
    assert!(!logs.contains(PASSWORD), "the password appears in the log");
}

#[test]
fn validity_lies_inside_the_server_certificate() {
    let server = TestServer::start_with(
        "[certificates]\nid_cert_lifetime_secs = 3600\nserver_cert_lifetime_secs = 600\n",
    );
    server.register("alice");
    let dir = server.data_dir();
    let key = Key::ed25519(dir, "alice");
    let answer = server.trust("alice", PASSWORD, &key.actor_csr("alice", "s1"));
    assert_eq!(answer.status, 201, "{}", answer.body);
    write(dir, "server.pem", &server.server_cert());
    write(dir, "alice.pem", answer.body["id_cert"].as_str().unwrap());
    let end = |file: &str| {
        openssl(dir, &["x509", "-in", file, "-noout", "-enddate"]).replace("notAfter=", "")
    };
    assert_eq!(
        end("alice.pem"),
        end("server.pem"),
        "the ID-Cert outlived its issuer"
    );
}

#[test]
fn serial_numbers_differ_between_certificates() {
    let server = TestServer::start();
    server.register("alice");
    let dir = server.data_dir();
    let key = Key::ed25519(dir, "alice");
    let mut serials = Vec::new();
    for session in ["a", "b", "c"] {
        let answer = server.trust("alice", PASSWORD, &key.actor_csr("alice", session));
        assert_eq!(answer.status, 201, "{}", answer.body);
        let file = write(dir, "c.pem", answer.body["id_cert"].as_str().unwrap());
        serials.push(openssl(dir, &["x509", "-in", &file, "-noout", "-serial"]));
    }
    write(dir, "server.pem", &server.server_cert());
    serials.push(openssl(
        dir,
        &["x509", "-in", "server.pem", "-noout", "-serial"],
    ));
    let mut unique = serials.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), serials.len(), "{serials:?}");
}

#[test]
fn revoke_kills_the_token_and_frees_the_session_id() {
    let server = TestServer::start();
    server.register("alice");
    let key = Key::ed25519(server.data_dir(), "alice");
    let csr = key.actor_csr("alice", "phone");
    let first = server.trust("alice", PASSWORD, &csr);
    assert_eq!(first.status, 201, "{}", first.body);
    let token = first.body["token"].as_str().unwrap();

    server
        .trust("alice", PASSWORD, &csr)
        .assert_error(409, "P2CORE_SESSION_ID_IN_USE");

    let revoked = server.put_with_token("/p2core/session/revoke", token);
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    server
        .put_with_token("/p2core/session/revoke", token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    // The revoked certificate is no longer the valid one of its session.
    let now = server.get(&format!(
        "/p2core/key/actor/alice@{DOMAIN}?session_id=phone"
    ));
    assert_eq!(now.body, json!([]));

    let second = server.trust("alice", PASSWORD, &csr);
    assert_eq!(
        second.status, 201,
        "the session ID is free again: {}",
        second.body
    );
    assert_ne!(second.body["token"], first.body["token"]);
}

#[test]
fn concurrent_trusts_with_one_session_id_give_exactly_one_201() {
    let server = TestServer::start();
    server.register("alice");
    let dir = server.data_dir();
    let csrs: Vec<String> = (0..20)
        .map(|i| Key::ed25519(dir, &format!("k{i}")).actor_csr("alice", "shared"))
        .collect();
    let statuses = concurrently(20, 201, (409, "P2CORE_SESSION_ID_IN_USE"), |i| {
        server.trust("alice", PASSWORD, &csrs[i])
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(server.cert_count("alice"), 1);
}

#[test]
fn identity_and_sessions_survive_a_restart() {
    let mut server = TestServer::start();
    server.register("alice");
    let key = Key::ed25519(server.data_dir(), "alice");
    let answer = server.trust("alice", PASSWORD, &key.actor_csr("alice", "s"));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let root = server.server_cert();
    server.restart();
    assert_eq!(
        server.server_cert(),
        root,
        "the server made a new identity key on restart"
    );
    let token = answer.body["token"].as_str().unwrap();
    assert_eq!(
        server
            .put_with_token("/p2core/session/revoke", token)
            .status,
        204
    );
}

#[test]
fn lost_database_connections_are_replaced_without_an_error() {
    let server = TestServer::start();
    server.register("alice");
    if !server.cut_database_connections() {
        eprintln!("SQLite has no connection to lose; this test checks PostgreSQL only");
        return;
    }
    // Every pooled connection is dead now; each request gets a fresh one.
    server.register("bob");
    let key = Key::ed25519(server.data_dir(), "bob");
    let answer = server.trust("bob", PASSWORD, &key.actor_csr("bob", "s"));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let listed = server.get(&format!("/p2core/key/actor/bob@{DOMAIN}"));
    assert_eq!(listed.body, json!([answer.body["id_cert"]]));
}

#[test]
fn the_second_factor_may_be_any_password_in_the_header_or_the_body() {
    let server = TestServer::start();
    let password = "pässwörd 🔑";
    let registered = server.post(
        "/p2core/register",
        &json!({"actor_name": "zoe", "auth_payload": {"password": password}}),
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
    let key = Key::ed25519(server.data_dir(), "zoe");
    let token_of = |session: &str| {
        let answer = server.trust("zoe", password, &key.actor_csr("zoe", session));
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["token"].as_str().unwrap().to_owned()
    };
    let (one, two, three) = (token_of("one"), token_of("two"), token_of("three"));
    let header = |value: &[u8]| reqwest::header::HeaderValue::from_bytes(value).unwrap();
    let revoke = |token: &str, session: &str| {
        server
            .http
            .delete(server.url(&format!("/p2core/session?session_id={session}")))
            .bearer_auth(token)
    };
    let active = || {
        server
            .store()
            .actor_certs_at("zoe", now() as i64, None)
            .unwrap()
            .len()
    };
    assert_eq!(active(), 3);

    // The header carries the password's UTF-8 bytes as they are.
    for wrong in ["passwort".as_bytes(), "pässwörd".as_bytes()] {
        server
            .send(revoke(&one, "one").header("X-P2-Sensitive-Solution", header(wrong)))
            .assert_error(403, "P2CORE_SECOND_FACTOR_REQUIRED");
    }
    server
        .send(revoke(&one, "one").header("X-P2-Sensitive-Solution", header(b"p\xe4sswort")))
        .assert_error(400, "P2CORE_INVALID_PARAMETER");
    assert_eq!(active(), 3);
    let answer = server
        .send(revoke(&one, "one").header("X-P2-Sensitive-Solution", header(password.as_bytes())));
    assert_eq!(answer.status, 204, "{}", answer.body);

    // Or the body's auth_payload, as an object or as a string holding one.
    let with_body =
        |body: serde_json::Value| server.send(revoke(&two, "two").body(body.to_string()));
    with_body(json!({"auth_payload": {"password": "wrong"}}))
        .assert_error(403, "P2CORE_SECOND_FACTOR_REQUIRED");
    let refused = with_body(json!({"auth_payload": "\"secret-ish\""}));
    refused.assert_error(400, "P2CORE_INVALID_BODY");
    assert!(
        !refused.body.to_string().contains("secret-ish"),
        "the error repeats the password: {}",
        refused.body
    );
    server
        .send(revoke(&two, "two").body("{not json"))
        .assert_error(400, "P2CORE_INVALID_BODY");
    // A password sent as the whole body, where no route takes it, is not repeated either.
    for refused in [
        server.send(revoke(&two, "two").body("\"secret-ish\"")),
        server.post("/p2core/session/trust", &json!("secret-ish")),
        server.post(
            "/p2core/register",
            &json!({"actor_name": "zed", "auth_payload": "secret-ish"}),
        ),
    ] {
        refused.assert_error(400, "P2CORE_INVALID_BODY");
        assert!(
            !refused.body.to_string().contains("secret-ish"),
            "the error repeats the password: {}",
            refused.body
        );
    }
    assert_eq!(active(), 2);
    let answer = with_body(json!({"auth_payload": json!({"password": password}).to_string()}));
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(active(), 1);

    // PUT /p2core/key/server takes it in the body too.
    assert!(server.cli(&["admin", "grant", "zoe"]).status.success());
    let old_root = server.server_cert();
    let rotated = server.send(
        server
            .http
            .put(server.url("/p2core/key/server"))
            .bearer_auth(&three)
            .body(json!({"auth_payload": {"password": password}}).to_string()),
    );
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_ne!(rotated.body.as_str().unwrap(), old_root);
}
