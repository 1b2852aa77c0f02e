//! The certificate work of one `POST /p2core/session/trust`, without HTTP, database or password
//! hashing: reading an ID-CSR, checking it for the actor, and signing the ID-Cert.
//!
//! `cargo bench -p polyhome-certs --bench issue` (`cargo xtask bench --criterion` runs it too).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use polyhome_certs::{parse_csr, Serial, ServerIdentity};
use polyhome_proto::{DomainName, FederationId};

/// An ID-CSR for `a@bench.test`, session ID `s`, as OpenSSL writes it:
/// `openssl genpkey -algorithm ed25519 -out k.pem; openssl req -new -key k.pem
/// -subj /CN=a/DC=bench/DC=test/UID=a@bench.test/uniqueIdentifier=s
/// -addext keyUsage=critical,digitalSignature`.
const CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIIBCzCBvgIBADBqMQowCAYDVQQDDAFhMRUwEwYKCZImiZPyLGQBGRYFYmVuY2gx
FDASBgoJkiaJk/IsZAEZFgR0ZXN0MRwwGgYKCZImiZPyLGQBAQwMYUBiZW5jaC50
ZXN0MREwDwYKCZImiZPyLGQBLAwBczAqMAUGAytlcAMhAF+IeylzYpCij3xkzIxg
2W7+FOKLMRjyFaemzL5xWEnxoCEwHwYJKoZIhvcNAQkOMRIwEDAOBgNVHQ8BAf8E
BAMCB4AwBQYDK2VwA0EAeQbVyEMq70DX4r8uaCjoZ8fvv4sVUgwoWdqcEkJrYp1k
TIuv4kSps9vA7LIcSvR/7kUoJyseXVESp1h7yC90Ag==
-----END CERTIFICATE REQUEST-----
";

/// 2025-01-01T00:00:00Z, and a year: fixed times keep runs comparable.
const NOW: u64 = 1_735_689_600;
const YEAR: u64 = 365 * 24 * 3600;

fn benches(c: &mut Criterion) {
    let domain: DomainName = "bench.test".parse().expect("a domain");
    let actor: FederationId = "a@bench.test".parse().expect("a federation ID");
    let identity =
        ServerIdentity::generate(&domain, Serial::random(), NOW, NOW + YEAR).expect("an identity");
    let validated = parse_csr(CSR)
        .and_then(|csr| csr.validate(&actor))
        .expect("the CSR is valid");

    c.bench_function("parse_csr", |b| {
        b.iter(|| parse_csr(black_box(CSR)).expect("parses"))
    });
    c.bench_function("parse_csr + validate", |b| {
        b.iter(|| {
            parse_csr(black_box(CSR))
                .and_then(|csr| csr.validate(black_box(&actor)))
                .expect("valid")
        })
    });
    c.bench_function("issue ID-Cert", |b| {
        b.iter(|| {
            identity
                .issue(
                    black_box(&validated),
                    Serial::random(),
                    NOW,
                    NOW + 30 * 24 * 3600,
                )
                .expect("issued")
        })
    });
    c.bench_function("parse + validate + issue", |b| {
        b.iter(|| {
            let csr = parse_csr(black_box(CSR))
                .and_then(|csr| csr.validate(&actor))
                .expect("valid");
            identity
                .issue(&csr, Serial::random(), NOW, NOW + 30 * 24 * 3600)
                .expect("issued")
        })
    });
}

criterion_group!(issue, benches);
criterion_main!(issue);
