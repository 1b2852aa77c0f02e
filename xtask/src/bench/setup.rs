//! What the load needs on the server and in files: actors with ID-Certs, and trust bodies.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::ensure;

use super::{csr, http, DOMAIN, PASSWORD, SEED_CONNECTIONS, SEED_SESSION};

/// A trust request body for `actor` with a new key and session ID `session`.
fn trust_body(actor: &str, session: &str) -> anyhow::Result<String> {
    let csr = csr::id_csr(&csr::new_key(), actor, DOMAIN, session)?;
    Ok(trust_body_with(&csr, actor))
}

/// `n` trust bodies, one a line: body `i` is for actor `i mod A` with session ID `t{i div A}`,
/// so no (actor, session ID) pair repeats. Made on two threads.
pub(super) fn trust_bodies_text(actors: &[String], n: usize) -> anyhow::Result<String> {
    let half = n / 2;
    let make = |range: std::ops::Range<usize>| -> anyhow::Result<String> {
        let mut out = String::with_capacity(range.len() * 1100);
        for i in range {
            let actor = &actors[i % actors.len()];
            out.push_str(&trust_body(actor, &format!("t{}", i / actors.len()))?);
            out.push('\n');
        }
        Ok(out)
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| make(0..half));
        let second = make(half..n);
        (first.join().expect("body generation panicked"), second)
    });
    Ok(first? + &second?)
}

/// Checks one generated ID-CSR with openssl (when installed) and against the server: the
/// actor `probe` registers and is trusted (201), and its key lookup returns the ID-Cert.
pub(super) fn check_id_csr(addr: SocketAddr, dir: &Path) -> anyhow::Result<()> {
    let csr = csr::id_csr(&csr::new_key(), "probe", DOMAIN, "probe-session")?;
    let file = dir.join("probe-csr.pem");
    std::fs::write(&file, &csr)?;
    match Command::new("openssl")
        .args(["req", "-verify", "-noout", "-text", "-in"])
        .arg(&file)
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            ensure!(
                out.status.success()
                    && text.contains("verify OK")
                    && text.contains("Digital Signature"),
                "openssl does not accept the generated ID-CSR:\n{csr}\n{text}"
            );
        }
        Err(_) => eprintln!(
            "bench: openssl not installed; the generated ID-CSR is checked by the server only"
        ),
    }

    let mut conn = http::Conn::open(addr)?;
    let answer = conn.get("/p2core/key/server")?;
    ensure!(
        answer.status == 200,
        "GET /p2core/key/server: {} {}",
        answer.status,
        answer.text()
    );
    let register =
        serde_json::json!({ "actor_name": "probe", "auth_payload": { "password": PASSWORD } });
    let answer = conn.post_json("/p2core/register", &register.to_string())?;
    ensure!(
        answer.status == 201,
        "registering probe: {} {}",
        answer.status,
        answer.text()
    );
    let answer = conn.post_json("/p2core/session/trust", &trust_body_with(&csr, "probe"))?;
    ensure!(
        answer.status == 201,
        "the server refused a generated ID-CSR: {} {}\n{csr}",
        answer.status,
        answer.text()
    );
    let trusted: serde_json::Value = serde_json::from_slice(&answer.body)?;
    ensure!(
        trusted["id_cert"]
            .as_str()
            .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE-----")),
        "no id_cert in {trusted}"
    );
    let answer = conn.get(&format!("/p2core/key/actor/probe@{DOMAIN}"))?;
    let certs: serde_json::Value = serde_json::from_slice(&answer.body)?;
    ensure!(
        answer.status == 200 && certs.as_array().is_some_and(|a| a.len() == 1),
        "GET /p2core/key/actor/probe@{DOMAIN}: {} {certs}",
        answer.status
    );
    eprintln!("bench: generated ID-CSR accepted by openssl and by the server (201)");
    Ok(())
}

fn trust_body_with(csr: &str, actor: &str) -> String {
    serde_json::json!({ "actor_name": actor, "csr": csr, "auth_payload": { "password": PASSWORD } })
        .to_string()
}

/// Registers every actor over HTTP and has each trusted once (session ID `seed`), so that
/// each has an ID-Cert for key/actor to return.
pub(super) fn seed(addr: SocketAddr, actors: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let chunk = actors.len().div_ceil(SEED_CONNECTIONS);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = actors
            .chunks(chunk)
            .map(|names| {
                s.spawn(move || -> anyhow::Result<()> {
                    let mut conn = http::Conn::open(addr)?;
                    for name in names {
                        let register =
                            serde_json::json!({ "actor_name": name, "auth_payload": { "password": PASSWORD } });
                        let answer = conn.post_json("/p2core/register", &register.to_string())?;
                        ensure!(answer.status == 201, "registering {name}: {} {}", answer.status, answer.text());
                        let answer = conn.post_json("/p2core/session/trust", &trust_body(name, SEED_SESSION)?)?;
                        ensure!(answer.status == 201, "trusting {name}: {} {}", answer.status, answer.text());
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("a seeding thread panicked")?;
        }
        Ok(())
    })?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: seeded {} actors (register + trust each) in {secs:.1} s, {:.0} actors/s",
        actors.len(),
        actors.len() as f64 / secs
    );
    Ok(())
}
