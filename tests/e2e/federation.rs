//! Two home servers, alpha.test and beta.test, letting each other's actors in (core §4.1.1,
//! auth.md §1.3): challenges, identify, ID-Cert rotation and revocation, server key rotation.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;

use crate::harness::{concurrently, now, Answer, TestServer, PASSWORD};
use crate::openssl::{openssl, write, Key};

const ALPHA: &str = "alpha.test";
const BETA: &str = "beta.test";

/// alpha, and beta configured to reach alpha on loopback. `beta_extra` is appended to beta's
/// configuration.
fn servers(beta_extra: &str) -> (TestServer, TestServer) {
    let alpha = TestServer::start_for(ALPHA, "[federation]\nallow_private_addresses = true\n");
    let beta = TestServer::start_for(
        BETA,
        &format!(
            "[federation]\nallow_private_addresses = true\nrequest_timeout_secs = 3\n\
             [federation.hosts]\n\"{ALPHA}\" = \"{}\"\n{beta_extra}",
            alpha.base
        ),
    );
    (alpha, beta)
}

/// An actor's key with the ID-Cert and home token it got from alpha.
struct Session {
    key: Key,
    cert: String,
    token: String,
}

fn trust_on_alpha(alpha: &TestServer, key_name: &str, session: &str) -> Session {
    let key = Key::ed25519(alpha.data_dir(), key_name);
    let answer = alpha.trust(
        "alice",
        PASSWORD,
        &key.actor_csr_on(ALPHA, "alice", session),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    Session {
        key,
        cert: answer.body["id_cert"].as_str().unwrap().to_owned(),
        token: answer.body["token"].as_str().unwrap().to_owned(),
    }
}

fn alice_on_alpha(alpha: &TestServer) -> Session {
    alpha.register("alice");
    trust_on_alpha(alpha, "alice", "laptop")
}

fn challenge(server: &TestServer) -> String {
    let answer = server.get("/p2core/challenge");
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["challenge"].as_str().unwrap().to_owned()
}

fn identify(server: &TestServer, challenge: &str, signature: &str, cert: &str) -> Answer {
    server.post(
        "/p2core/session/identify",
        &json!({"completed_challenge": {"challenge": challenge, "signature": signature}, "id_cert": cert}),
    )
}

/// Gets a challenge from `server`, signs it with `key` and identifies with `cert`.
fn identify_with(server: &TestServer, key: &Key, cert: &str) -> Answer {
    let c = challenge(server);
    identify(server, &c, &key.sign_hex(&c), cert)
}

#[test]
fn challenges_follow_core_4_2() {
    let server = TestServer::start();
    let first = server.get("/p2core/challenge");
    let c = first.body["challenge"].as_str().unwrap();
    assert_eq!(c.len(), 64);
    assert!(c.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(c.chars().any(|c| c.is_ascii_uppercase()) && c.chars().any(|c| c.is_ascii_lowercase()));
    assert!(c.chars().any(|c| c.is_ascii_digit()));
    let now = now();
    let expires = first.body["expires"].as_u64().unwrap();
    assert!((now + 290..=now + 310).contains(&expires), "{expires}");
    assert_ne!(challenge(&server), c);
}

#[test]
fn an_alpha_actor_identifies_on_beta_and_uses_the_token() {
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    let answer = identify_with(&beta, &alice.key, &alice.cert);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let token = answer.body["token"].as_str().unwrap().to_owned();
    assert_ne!(token, alice.token);

    // The same again with the signature in base64 and the completed challenge under the name
    // of the spec's table: this replaces the first beta session.
    let c = challenge(&beta);
    let signature = hex_to_base64(&alice.key.sign_hex(&c));
    let again = beta.post(
        "/p2core/session/identify",
        &json!({"challenge": {"challenge": c, "signature": signature}, "id_cert": alice.cert}),
    );
    assert_eq!(again.status, 201, "{}", again.body);
    let second = again.body["token"].as_str().unwrap();
    beta.put_with_token("/p2core/session/revoke", &token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");

    // The beta token works on beta's authenticated routes, and not on alpha.
    beta.send(
        beta.http
            .post(beta.url("/p2core/session/idcert"))
            .bearer_auth(second)
            .json(&json!({"csr": "x"})),
    )
    .assert_error(403, "P2CORE_NOT_HOME_SESSION");
    alpha
        .put_with_token("/p2core/session/revoke", second)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    assert_eq!(
        beta.put_with_token("/p2core/session/revoke", second).status,
        204
    );
    beta.put_with_token("/p2core/session/revoke", second)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    assert!(!beta.logs().contains(second), "a token reached beta's log");
}

fn hex_to_base64(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn challenges_are_single_use_and_expire() {
    let (alpha, beta) = servers("[challenges]\nlifetime_secs = 1\n");
    let alice = alice_on_alpha(&alpha);

    let c = challenge(&beta);
    let signature = alice.key.sign_hex(&c);
    assert_eq!(identify(&beta, &c, &signature, &alice.cert).status, 201);
    identify(&beta, &c, &signature, &alice.cert).assert_error(401, "P2CORE_CHALLENGE_USED");

    let never = "A1b2".repeat(16);
    identify(&beta, &never, &alice.key.sign_hex(&never), &alice.cert)
        .assert_error(401, "P2CORE_CHALLENGE_UNKNOWN");

    // A challenge is used up by a failed attempt too.
    let c = challenge(&beta);
    identify(&beta, &c, &"00".repeat(64), &alice.cert)
        .assert_error(401, "P2CORE_CHALLENGE_SIGNATURE_INVALID");
    identify(&beta, &c, &alice.key.sign_hex(&c), &alice.cert)
        .assert_error(401, "P2CORE_CHALLENGE_USED");

    let c = challenge(&beta);
    std::thread::sleep(Duration::from_millis(2100));
    identify(&beta, &c, &alice.key.sign_hex(&c), &alice.cert)
        .assert_error(401, "P2CORE_CHALLENGE_EXPIRED");
}

#[test]
fn a_home_actor_is_sent_to_trust_rather_than_identified() {
    let alpha = TestServer::start_for(ALPHA, "");
    let alice = alice_on_alpha(&alpha);
    let c = challenge(&alpha);
    identify(&alpha, &c, &alice.key.sign_hex(&c), &alice.cert)
        .assert_error(403, "P2CORE_NOT_FOREIGN_SESSION");
    // The challenge is used up all the same, and no foreign session was recorded.
    identify(&alpha, &c, &alice.key.sign_hex(&c), &alice.cert)
        .assert_error(401, "P2CORE_CHALLENGE_USED");
    let now = now() as i64;
    assert!(!alpha
        .store()
        .revoke_foreign_session_id("alice@alpha.test", "laptop", now)
        .unwrap());
    // The home session is untouched.
    assert_eq!(
        alpha
            .put_with_token("/p2core/session/revoke", &alice.token)
            .status,
        204
    );

    // The answer is the same for an ID-Cert of its own that has expired.
    let short = TestServer::start_for(ALPHA, "[certificates]\nid_cert_lifetime_secs = 1\n");
    short.register("alice");
    let bob = trust_on_alpha(&short, "bob", "old");
    std::thread::sleep(Duration::from_millis(2100));
    identify_with(&short, &bob.key, &bob.cert).assert_error(403, "P2CORE_NOT_FOREIGN_SESSION");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    let mallory = Key::ed25519(alpha.data_dir(), "mallory");
    identify_with(&beta, &mallory, &alice.cert)
        .assert_error(401, "P2CORE_CHALLENGE_SIGNATURE_INVALID");
}

/// A certificate for `uid` signed by a CA made here that calls itself `ca_domain`.
fn forged_cert(dir: &std::path::Path, ca_domain: &str, uid_domain: &str, key: &Key) -> String {
    let dcs = |d: &str| d.split('.').map(|l| format!("/DC={l}")).collect::<String>();
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", "ca.key"]);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-subj",
            &dcs(ca_domain),
            "-days",
            "1",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    let csr = key.csr(
        &format!(
            "/CN=alice{}/UID=alice@{uid_domain}/uniqueIdentifier=laptop",
            dcs(uid_domain)
        ),
        &[],
    );
    write(dir, "forged.csr", &csr);
    write(
        dir,
        "ext.cnf",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "forged.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "4660",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "forged.pem",
        ],
    );
    std::fs::read_to_string(dir.join("forged.pem")).unwrap()
}

#[test]
fn a_certificate_from_a_self_made_ca_claiming_alpha_is_refused() {
    let (alpha, beta) = servers("");
    alpha.register("alice");
    let key = Key::ed25519(beta.data_dir(), "alice");
    let forged = forged_cert(beta.data_dir(), ALPHA, ALPHA, &key);
    identify_with(&beta, &key, &forged)
        .assert_error(401, "P2CORE_ID_CERT_NOT_SIGNED_BY_HOME_SERVER");
}

#[test]
fn a_certificate_whose_issuer_domain_differs_from_its_uid_is_refused() {
    let (_alpha, beta) = servers("");
    let key = Key::ed25519(beta.data_dir(), "alice");
    let forged = forged_cert(beta.data_dir(), ALPHA, "gamma.test", &key);
    identify_with(&beta, &key, &forged).assert_error(400, "P2CORE_ID_CERT_DOMAIN_MISMATCH");
}

#[test]
fn garbage_certificates_are_refused() {
    let (_alpha, beta) = servers("");
    let key = Key::ed25519(beta.data_dir(), "k");
    for cert in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        identify_with(&beta, &key, cert).assert_error(400, "P2CORE_ID_CERT_MALFORMED");
    }
    // A CA certificate is not an actor's.
    let forged = forged_cert(beta.data_dir(), ALPHA, ALPHA, &key);
    let _ = forged;
    let ca = std::fs::read_to_string(beta.data_dir().join("ca.pem")).unwrap();
    identify_with(&beta, &key, &ca).assert_error(400, "P2CORE_ID_CERT_MALFORMED");
}

#[test]
fn a_certificate_revoked_on_alpha_is_refused_on_beta() {
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    let on_beta = identify_with(&beta, &alice.key, &alice.cert);
    assert_eq!(on_beta.status, 201, "{}", on_beta.body);
    let beta_token = on_beta.body["token"].as_str().unwrap().to_owned();

    // Early revocation on alpha: a sensitive action, so the password is required.
    let revoke = |password: Option<&str>| {
        let mut request = alpha
            .http
            .delete(alpha.url("/p2core/session?session_id=laptop"))
            .bearer_auth(&alice.token);
        if let Some(password) = password {
            request = request.header("X-P2-Sensitive-Solution", password);
        }
        alpha.send(request)
    };
    revoke(None).assert_error(403, "P2CORE_SECOND_FACTOR_REQUIRED");
    revoke(Some("wrong")).assert_error(403, "P2CORE_SECOND_FACTOR_REQUIRED");
    assert_eq!(revoke(Some(PASSWORD)).status, 204);
    alpha
        .put_with_token("/p2core/session/revoke", &alice.token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");

    // beta still has the session until it hears of the revocation: the actor announcing the
    // certificate again is refused, and beta ends the session that holds it (§7.1.4).
    beta.put_with_token("/p2core/key/server", &beta_token)
        .assert_error(403, "P2CORE_NOT_HOME_SESSION");
    beta.send(
        beta.http
            .post(beta.url("/p2core/session/idcert/extern"))
            .bearer_auth(&beta_token)
            .json(&json!({"id_cert": alice.cert})),
    )
    .assert_error(401, "P2CORE_ID_CERT_REVOKED");
    beta.put_with_token("/p2core/session/revoke", &beta_token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    identify_with(&beta, &alice.key, &alice.cert).assert_error(401, "P2CORE_ID_CERT_REVOKED");
}

#[test]
fn early_revocation_works_on_the_foreign_server_too() {
    // §7.1.4: the revocation routes are the same on home and foreign servers.
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    let on_beta = identify_with(&beta, &alice.key, &alice.cert);
    assert_eq!(on_beta.status, 201, "{}", on_beta.body);
    let beta_token = on_beta.body["token"].as_str().unwrap().to_owned();
    let delete = |session_id: &str| {
        beta.send(
            beta.http
                .delete(beta.url(&format!("/p2core/session?session_id={session_id}")))
                .bearer_auth(&beta_token),
        )
    };
    delete("phone").assert_error(404, "P2CORE_SESSION_NOT_FOUND");
    assert_eq!(delete("laptop").status, 204);
    beta.put_with_token("/p2core/session/revoke", &beta_token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    // Only beta's session ended: the certificate is still alice's valid one on alpha.
    assert_eq!(
        alpha
            .put_with_token("/p2core/session/revoke", &alice.token)
            .status,
        204
    );
}

#[test]
fn concurrent_identifies_of_one_session_all_succeed_and_one_token_survives() {
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    // Signed beforehand: the openssl helper is not made for parallel use.
    let challenges: Vec<(String, String)> = (0..20)
        .map(|_| {
            let c = challenge(&beta);
            let signature = alice.key.sign_hex(&c);
            (c, signature)
        })
        .collect();
    let tokens = std::sync::Mutex::new(Vec::new());
    let statuses = concurrently(20, 201, (409, "P2CORE_SESSION_ID_IN_USE"), |i| {
        let (c, signature) = &challenges[i];
        let answer = identify(&beta, c, signature, &alice.cert);
        if answer.status == 201 {
            let token = answer.body["token"].as_str().unwrap().to_owned();
            tokens.lock().unwrap().push(token);
        }
        answer
    });
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");
    // Each identify replaced the session before it: one token of the twenty still works.
    let alive = tokens
        .into_inner()
        .unwrap()
        .iter()
        .filter(|token| beta.put_with_token("/p2core/session/revoke", token).status == 204)
        .count();
    assert_eq!(alive, 1);
}

#[test]
fn an_unreachable_home_server_gets_an_answer_within_the_timeout() {
    // gamma.test points at a port nobody listens on; delta.test at a listener that never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let extra = format!(
        "\"gamma.test\" = \"http://{closed}\"\n\"delta.test\" = \"http://{}\"\n",
        silent.local_addr().unwrap()
    );
    let (_alpha, beta) = servers(&extra);
    let key = Key::ed25519(beta.data_dir(), "k");

    let gamma = forged_cert(beta.data_dir(), "gamma.test", "gamma.test", &key);
    identify_with(&beta, &key, &gamma).assert_error(502, "P2CORE_HOME_SERVER_UNREACHABLE");

    let delta = forged_cert(beta.data_dir(), "delta.test", "delta.test", &key);
    let started = Instant::now();
    identify_with(&beta, &key, &delta).assert_error(504, "P2CORE_HOME_SERVER_TIMEOUT");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "the request took {took:?} with a 3 s timeout"
    );
    drop(silent);
}

/// A TCP proxy to `target` that holds every chunk a client sends for `delay` before passing
/// it on: each request to the server behind it answers `delay` late, connection reuse or not.
fn slow_proxy(target: &str, delay: Duration) -> String {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let target = target.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(&target) else {
                return;
            };
            let (mut client_back, mut server_back) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut server_back, &mut client_back));
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = client.read(&mut buf) {
                    std::thread::sleep(delay);
                    if server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn the_federation_timeout_bounds_the_home_servers_whole_answer() {
    // Each of the two requests to alpha (its certificate, then the session's standing) answers
    // within beta's 3 s timeout, but together they take 5 s: still a timeout, not a 5 s wait.
    let alpha = TestServer::start_for(ALPHA, "[federation]\nallow_private_addresses = true\n");
    let proxy = slow_proxy(&alpha.base, Duration::from_millis(2500));
    let beta = TestServer::start_for(
        BETA,
        &format!(
            "[federation]\nallow_private_addresses = true\nrequest_timeout_secs = 3\n\
             [federation.hosts]\n\"{ALPHA}\" = \"{proxy}\"\n"
        ),
    );
    let alice = alice_on_alpha(&alpha);
    let c = challenge(&beta);
    let signature = alice.key.sign_hex(&c);
    let started = Instant::now();
    identify(&beta, &c, &signature, &alice.cert).assert_error(504, "P2CORE_HOME_SERVER_TIMEOUT");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(4500),
        "the request took {took:?} with a 3 s timeout"
    );
}

#[test]
fn private_addresses_are_refused_unless_allowed() {
    let alpha = TestServer::start_for(ALPHA, "");
    let beta = TestServer::start_for(
        BETA,
        &format!("[federation.hosts]\n\"{ALPHA}\" = \"{}\"\n", alpha.base),
    );
    alpha.register("alice");
    let alice = trust_on_alpha(&alpha, "alice", "laptop");
    let answer = identify_with(&beta, &alice.key, &alice.cert);
    answer.assert_error(502, "P2CORE_HOME_SERVER_UNREACHABLE");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{}",
        answer.body
    );
}

#[test]
fn rotation_on_alpha_then_extern_on_beta() {
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    let on_beta = identify_with(&beta, &alice.key, &alice.cert);
    assert_eq!(on_beta.status, 201, "{}", on_beta.body);
    let beta_token = on_beta.body["token"].as_str().unwrap().to_owned();

    // Rotate on alpha: a new key for the same session, with the password.
    let new_key = Key::ed25519(alpha.data_dir(), "alice2");
    let rotate = |csr: &str, password: Option<&str>| {
        let mut body = json!({"csr": csr});
        if let Some(p) = password {
            body["auth_payload"] = json!({"password": p});
        }
        alpha.send(
            alpha
                .http
                .post(alpha.url("/p2core/session/idcert"))
                .bearer_auth(&alice.token)
                .json(&body),
        )
    };
    rotate(&new_key.actor_csr_on(ALPHA, "alice", "laptop"), None)
        .assert_error(403, "P2CORE_SECOND_FACTOR_REQUIRED");
    rotate(
        &new_key.actor_csr_on(ALPHA, "alice", "phone"),
        Some(PASSWORD),
    )
    .assert_error(400, "P2CORE_CSR_SESSION_ID_MISMATCH");
    // Rotation is to a new key pair (§7.1.3).
    rotate(
        &alice.key.actor_csr_on(ALPHA, "alice", "laptop"),
        Some(PASSWORD),
    )
    .assert_error(400, "P2CORE_CSR_KEY_NOT_NEW");
    assert_eq!(alpha.cert_count("alice"), 1);
    let rotated = rotate(
        &new_key.actor_csr_on(ALPHA, "alice", "laptop"),
        Some(PASSWORD),
    );
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let new_cert = rotated.body["id_cert"].as_str().unwrap().to_owned();
    let new_alpha_token = rotated.body["token"].as_str().unwrap().to_owned();
    alpha
        .put_with_token("/p2core/session/revoke", &alice.token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");

    // alpha serves the new certificate as the session's, and the old one for its time.
    let listed = alpha.get("/p2core/key/actor/alice@alpha.test?session_id=laptop");
    assert_eq!(listed.body, json!([new_cert]));
    // The old certificate no longer identifies on beta.
    identify_with(&beta, &alice.key, &alice.cert).assert_error(401, "P2CORE_ID_CERT_REVOKED");

    // beta learns of the new certificate; the old beta token dies, a new one works.
    let extern_ = |token: &str, body: serde_json::Value| {
        beta.send(
            beta.http
                .post(beta.url("/p2core/session/idcert/extern"))
                .bearer_auth(token)
                .json(&body),
        )
    };
    // Announcing the old certificate is refused but does not end the session, which was
    // rotated, not revoked; announcing the new one is taken, with a new token.
    extern_(&beta_token, json!(alice.cert)).assert_error(401, "P2CORE_ID_CERT_REVOKED");
    let kept = extern_(&beta_token, json!(new_cert));
    assert_eq!(kept.status, 201, "{}", kept.body);
    let kept_token = kept.body["token"].as_str().unwrap().to_owned();
    beta.put_with_token("/p2core/session/revoke", &beta_token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    // A new identify for the session replaces it again.
    let fresh = identify_with(&beta, &new_key, &new_cert);
    assert_eq!(fresh.status, 201, "{}", fresh.body);
    let beta_token2 = fresh.body["token"].as_str().unwrap().to_owned();
    beta.put_with_token("/p2core/session/revoke", &kept_token)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    let updated = extern_(&beta_token2, json!(new_cert));
    assert_eq!(updated.status, 201, "{}", updated.body);
    let beta_token3 = updated.body["token"].as_str().unwrap();
    beta.put_with_token("/p2core/session/revoke", &beta_token2)
        .assert_error(401, "P2CORE_UNAUTHORIZED");
    // Home tokens are not foreign sessions, and the old certificate is refused.
    extern_(&new_alpha_token, json!(new_cert)).assert_error(401, "P2CORE_UNAUTHORIZED");
    extern_(beta_token3, json!({"id_cert": alice.cert}))
        .assert_error(401, "P2CORE_ID_CERT_REVOKED");
    assert_eq!(
        beta.put_with_token("/p2core/session/revoke", beta_token3)
            .status,
        204
    );
}

#[test]
fn server_key_rotation_on_alpha_keeps_old_certificates_verifiable() {
    let (alpha, beta) = servers("");
    let alice = alice_on_alpha(&alpha);
    let old_root = alpha.server_cert();

    let rotate_key = |token: &str, password: Option<&str>| {
        let mut request = alpha
            .http
            .put(alpha.url("/p2core/key/server"))
            .bearer_auth(token);
        if let Some(p) = password {
            request = request.header("X-P2-Sensitive-Solution", p);
        }
        alpha.send(request)
    };
    rotate_key(&alice.token, Some(PASSWORD)).assert_error(403, "P2CORE_NOT_ADMINISTRATOR");
    let granted = alpha.cli(&["admin", "grant", "alice"]);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(String::from_utf8_lossy(&granted.stdout)
        .contains("alice@alpha.test is now an administrator"));
    rotate_key(&alice.token, None).assert_error(403, "P2CORE_SECOND_FACTOR_REQUIRED");

    // Certificates carry second-resolution times: let the old ones be clearly older.
    std::thread::sleep(Duration::from_millis(1100));
    let rotated = rotate_key(&alice.token, Some(PASSWORD));
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_root = rotated.body.as_str().unwrap().to_owned();
    assert_ne!(new_root, old_root);
    assert_eq!(alpha.server_cert(), new_root);

    // A certificate issued before the rotation still verifies on beta (through the timestamp
    // query for its time), and one issued after it verifies with the new key.
    assert_eq!(identify_with(&beta, &alice.key, &alice.cert).status, 201);
    std::thread::sleep(Duration::from_millis(1100));
    let phone = trust_on_alpha(&alpha, "phone", "phone");
    let dir = alpha.data_dir();
    write(dir, "new-root.pem", &new_root);
    write(dir, "old-root.pem", &old_root);
    write(dir, "phone.pem", &phone.cert);
    write(dir, "laptop.pem", &alice.cert);
    assert_eq!(
        openssl(dir, &["verify", "-CAfile", "new-root.pem", "phone.pem"]).trim(),
        "phone.pem: OK"
    );
    assert_eq!(
        openssl(dir, &["verify", "-CAfile", "old-root.pem", "laptop.pem"]).trim(),
        "laptop.pem: OK"
    );
    let answer = identify_with(&beta, &phone.key, &phone.cert);
    assert_eq!(answer.status, 201, "{}", answer.body);
}

#[test]
fn outstanding_challenges_are_capped() {
    let (alpha, beta) = servers("[challenges]\nlifetime_secs = 1\nmax_outstanding = 3\n");
    let alice = alice_on_alpha(&alpha);
    let stored = || beta.store().count_outstanding_challenges(0).unwrap();
    let handed: Vec<String> = (0..3).map(|_| challenge(&beta)).collect();
    beta.get("/p2core/challenge")
        .assert_error(429, "P2CORE_TOO_MANY_CHALLENGES");
    assert_eq!(stored(), 3, "a refused challenge was stored");
    // A used challenge no longer counts …
    let c = &handed[0];
    assert_eq!(
        identify(&beta, c, &alice.key.sign_hex(c), &alice.cert).status,
        201
    );
    challenge(&beta);
    beta.get("/p2core/challenge")
        .assert_error(429, "P2CORE_TOO_MANY_CHALLENGES");
    // … nor an expired one.
    std::thread::sleep(Duration::from_millis(2100));
    challenge(&beta);
}
