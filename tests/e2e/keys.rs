//! `GET /p2core/key/server` and `GET /p2core/key/actor/{fid}`

use serde_json::json;

use crate::harness::{now, TestServer, DOMAIN, PASSWORD};
use crate::openssl::Key;

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
fn head_answers_the_key_routes_without_a_body() {
    let server = TestServer::start();
    server.register("alice");
    for path in [
        "/p2core/key/server".to_owned(),
        format!("/p2core/key/actor/alice@{DOMAIN}"),
    ] {
        let got = server.http.get(server.url(&path)).send().unwrap();
        let length = got.content_length().unwrap();
        assert!(length > 0);
        let head = server.http.head(server.url(&path)).send().unwrap();
        assert_eq!(head.status(), 200, "{path}");
        // (reqwest's content_length() is the body's, none for HEAD: read the header.)
        assert_eq!(
            head.headers()["content-length"].to_str().unwrap(),
            length.to_string(),
            "{path}"
        );
        assert!(head.bytes().unwrap().is_empty(), "{path}");
    }
    // The challenge route makes a challenge, so it is GET only (a HEAD answer has no body).
    let head = server
        .http
        .head(server.url("/p2core/challenge"))
        .send()
        .unwrap();
    assert_eq!(head.status(), 405);
}

#[test]
fn admin_commands_say_what_they_did_and_make_no_database() {
    let server = TestServer::start();
    server.register("alice");
    let run = |args: &[&str]| {
        let out = server.cli(args);
        let text = String::from_utf8_lossy(if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        })
        .into_owned();
        (out.status.success(), text)
    };
    let (ok, text) = run(&["admin", "grant", "nobody"]);
    assert!(
        !ok && text.contains(&format!("no actor nobody@{DOMAIN}")),
        "{text}"
    );
    let (ok, text) = run(&["admin", "grant", "alice@elsewhere.example"]);
    assert!(
        !ok && text.contains("not on this server's domain"),
        "{text}"
    );
    let (ok, text) = run(&["admin", "grant", &format!("ALICE@{DOMAIN}")]);
    assert!(
        ok && text.contains(&format!("alice@{DOMAIN} is now an administrator")),
        "{text}"
    );
    let (ok, text) = run(&["admin", "revoke", "alice"]);
    assert!(
        ok && text.contains("is no longer an administrator"),
        "{text}"
    );

    // Without the server's configuration the default SQLite file does not exist: the command
    // says so rather than making an empty database there.
    let elsewhere = server.data_dir().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_polyhome"))
        .args(["admin", "grant", "alice"])
        .current_dir(&elsewhere)
        .env_remove("POLYHOME_DATABASE_URL")
        .env_remove("POLYHOME_DATA_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("there is no database"), "{stderr}");
    assert!(!elsewhere.join("data").exists(), "a database was made");
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

/// A server and a second process on its database; alice, registered there, holds a session
/// (her token is returned) and is an administrator.
fn two_processes_with_an_administrator() -> (TestServer, TestServer, String) {
    let a = TestServer::start();
    let b = a.second_process();
    a.register("alice");
    let key = Key::ed25519(a.data_dir(), "alice");
    let trusted = a.trust("alice", PASSWORD, &key.actor_csr("alice", "laptop"));
    assert_eq!(trusted.status, 201, "{}", trusted.body);
    assert!(a.cli(&["admin", "grant", "alice"]).status.success());
    let token = trusted.body["token"].as_str().unwrap().to_owned();
    (a, b, token)
}

#[test]
fn a_server_key_rotated_by_one_process_is_taken_up_by_another_sharing_the_database() {
    use crate::openssl::{openssl, write};

    let (a, b, token) = two_processes_with_an_administrator();
    let old_root = a.server_cert();
    assert_eq!(b.server_cert(), old_root);
    let new_root = a.rotate_server_key(&token);
    assert_ne!(new_root, old_root);

    // b signs with the new key at once: an ID-Cert it issues verifies against the new root.
    let phone = Key::ed25519(a.data_dir(), "phone");
    let issued = b.trust("alice", PASSWORD, &phone.actor_csr("alice", "phone"));
    assert_eq!(issued.status, 201, "{}", issued.body);
    let dir = a.data_dir();
    write(dir, "new-root.pem", &new_root);
    write(dir, "phone.pem", issued.body["id_cert"].as_str().unwrap());
    assert_eq!(
        openssl(dir, &["verify", "-CAfile", "new-root.pem", "phone.pem"]).trim(),
        "phone.pem: OK"
    );
    // And serves the new root certificate within about a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while b.server_cert() != new_root {
        assert!(
            std::time::Instant::now() < deadline,
            "b kept serving the old root certificate"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A certificate's notBefore, UNIX seconds.
fn not_before(pem: &str) -> u64 {
    use base64::Engine;
    use der::Decode;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    x509_cert::Certificate::from_der(&der)
        .unwrap()
        .tbs_certificate
        .validity
        .not_before
        .to_unix_duration()
        .as_secs()
}

#[test]
fn quick_rotations_leave_the_last_key_signing_and_each_root_found_by_its_certs_time() {
    use crate::openssl::{openssl, write};

    let server = TestServer::start();
    server.register("alice");
    let dir = server.data_dir();
    let issue = |session: &str| {
        let key = Key::ed25519(dir, session);
        let answer = server.trust("alice", PASSWORD, &key.actor_csr("alice", session));
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer
    };
    let first = issue("s0");
    let token = first.body["token"].as_str().unwrap().to_owned();
    assert!(server.cli(&["admin", "grant", "alice"]).status.success());
    let mut roots = vec![server.server_cert()];
    let mut certs = vec![first.body["id_cert"].as_str().unwrap().to_owned()];
    // Each rotation follows an issuance at once, and the next rotation follows at once too.
    for i in 1..=3 {
        roots.push(server.rotate_server_key(&token));
        certs.push(
            issue(&format!("s{i}")).body["id_cert"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(&server.server_cert(), roots.last().unwrap());
    for pair in roots.windows(2) {
        assert!(
            not_before(&pair[0]) < not_before(&pair[1]),
            "roots start in order"
        );
    }
    // What a foreign server does: ask for the root valid at the ID-Cert's start, verify with it.
    for (i, (cert, root)) in certs.iter().zip(&roots).enumerate() {
        let named = server.get(&format!(
            "/p2core/key/server?timestamp={}",
            not_before(cert)
        ));
        assert_eq!(named.body, json!(root), "the root for ID-Cert {i}");
        write(dir, "root.pem", root);
        write(dir, "cert.pem", cert);
        assert_eq!(
            openssl(dir, &["verify", "-CAfile", "root.pem", "cert.pem"]).trim(),
            "cert.pem: OK"
        );
    }
}

#[test]
fn an_idle_process_serves_a_server_key_rotated_elsewhere_on_its_first_request() {
    let (a, b, token) = two_processes_with_an_administrator();
    let old_root = b.server_cert();
    let rotated = a.rotate_server_key(&token);
    assert_ne!(rotated, old_root);
    // b is asked nothing for a while; its very next answer is the new certificate.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(b.server_cert(), rotated);
}

#[test]
fn an_expired_server_certificate_is_replaced_for_timestamp_queries_too() {
    let server = TestServer::start_for(DOMAIN, "[certificates]\nserver_cert_lifetime_secs = 2\n");
    let first = server.get(&format!("/p2core/key/server?timestamp={}", now()));
    assert_eq!(first.status, 200, "{}", first.body);
    std::thread::sleep(std::time::Duration::from_millis(3200));
    let later = server.get(&format!("/p2core/key/server?timestamp={}", now()));
    assert_eq!(later.status, 200, "{}", later.body);
    assert_ne!(later.body, first.body);
    // The first one is still served for its own time.
    let earlier = server.get(&format!("/p2core/key/server?timestamp={}", now() - 3));
    assert_eq!(earlier.body, first.body);
}

#[test]
fn actor_certs_changed_by_another_process_are_seen_within_about_a_second() {
    // Processes sharing a database keep actors' current ID-Certs in memory; each notices the
    // others' changes through the database within about a second.
    let a = TestServer::start();
    let b = a.second_process();
    a.register("alice");
    let path = format!("/p2core/key/actor/alice@{DOMAIN}");
    assert_eq!(a.get(&path).body, json!([]));
    assert_eq!(b.get(&path).body, json!([]));

    let key = Key::ed25519(a.data_dir(), "alice");
    let trusted = b.trust("alice", PASSWORD, &key.actor_csr("alice", "laptop"));
    assert_eq!(trusted.status, 201, "{}", trusted.body);
    let cert = trusted.body["id_cert"].clone();
    // The process that made the change answers with it at once …
    assert_eq!(b.get(&path).body, json!([cert]));
    // … the other one within about a second.
    let seen = |server: &TestServer, expected: serde_json::Value| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            if server.get(&path).body == expected {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    assert!(seen(&a, json!([cert])), "a never listed the new ID-Cert");

    let token = trusted.body["token"].as_str().unwrap();
    assert_eq!(
        b.put_with_token("/p2core/session/revoke", token).status,
        204
    );
    assert_eq!(b.get(&path).body, json!([]));
    assert!(seen(&a, json!([])), "a kept listing a revoked ID-Cert");
}
