//! Interoperability with OpenSSL: CSRs made by the `openssl` command line tool, and issued
//! certificates checked by it.
//!
//! The fixtures were made with OpenSSL 3.0 (see `fixtures/README.md` for the commands). The live
//! test runs the `openssl` binary itself when it is installed and is skipped, saying so, when it
//! is not.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::parse_csr;

const ED25519_CSR: &str = include_str!("fixtures/alice-ed25519.csr.pem");
const P256_CSR: &str = include_str!("fixtures/alice-p256.csr.pem");
const ED448_CSR: &str = include_str!("fixtures/alice-ed448.csr.pem");
const MULTIVALUE_CSR: &str = include_str!("fixtures/alice-multivalue.csr.pem");
const NON_REPUDIATION_CSR: &str = include_str!("fixtures/alice-nonrepudiation.csr.pem");
const KEY_CERT_SIGN_CSR: &str = include_str!("fixtures/alice-keycertsign.csr.pem");
const CA_CSR: &str = include_str!("fixtures/alice-ca.csr.pem");
const NO_EXTENSIONS_CSR: &str = include_str!("fixtures/alice-no-extensions.csr.pem");
const SELF_SIGNED_CERT: &str = include_str!("fixtures/alice-self-signed.cert.pem");

/// The DER OID of uniqueIdentifier, 0.9.2342.19200300.100.1.44.
const UNIQUE_IDENTIFIER_OID_DER: [u8; 12] = [
    0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x2c,
];

fn check(pem: &str) -> Result<ValidatedCsr, CsrError> {
    parse_csr(pem)?.validate(&alice())
}

#[test]
fn openssl_csrs_are_accepted() {
    let csr = check(ED25519_CSR).unwrap();
    assert_eq!(csr.session_id.as_str(), "sess1");
    assert_eq!(csr.key_usage(), ["digitalSignature"]);
    // OpenSSL's uniqueIdentifier is the polyproto one.
    let (_, der) = der::pem::decode_vec(ED25519_CSR.as_bytes()).unwrap();
    assert!(der.windows(12).any(|w| w == UNIQUE_IDENTIFIER_OID_DER));

    // -multivalue-rdn "/CN=alice+UID=alice@example.com/…"
    assert_eq!(check(MULTIVALUE_CSR).unwrap().session_id.as_str(), "sess1");
    // keyUsage=critical,nonRepudiation
    assert_eq!(
        check(NON_REPUDIATION_CSR).unwrap().key_usage(),
        ["contentCommitment"]
    );
    // CRLF line endings and surrounding whitespace.
    check(&format!("\r\n  {}  ", ED25519_CSR.replace('\n', "\r\n"))).unwrap();
}

#[test]
fn openssl_csrs_are_refused_for_the_right_reason() {
    let p256 = check(P256_CSR).unwrap_err();
    assert_eq!(p256.code(), ErrorCode::UnsupportedKeyAlgorithm);
    assert!(p256
        .to_string()
        .contains("only Ed25519 keys (OID 1.3.101.112) are accepted"));
    assert!(p256.to_string().contains("1.2.840.10045.2.1"), "{p256}");
    assert_eq!(
        check(ED448_CSR).unwrap_err().code(),
        ErrorCode::UnsupportedKeyAlgorithm
    );
    assert_eq!(
        check(KEY_CERT_SIGN_CSR).unwrap_err().code(),
        ErrorCode::CsrKeyUsageInvalid
    );
    assert_eq!(check(CA_CSR).unwrap_err().code(), ErrorCode::CsrCaRequested);
    assert_eq!(
        check(NO_EXTENSIONS_CSR).unwrap_err().code(),
        ErrorCode::CsrKeyUsageInvalid
    );
    // A certificate, with its own label and relabelled.
    assert_eq!(
        check(SELF_SIGNED_CERT).unwrap_err().code(),
        ErrorCode::CsrMalformed
    );
    let relabelled = SELF_SIGNED_CERT.replace("CERTIFICATE", "CERTIFICATE REQUEST");
    assert_eq!(check(&relabelled).unwrap_err(), CsrError::IsCertificate);
    // The fixture for another actor.
    let bob: FederationId = "bob@example.com".parse().unwrap();
    let err = parse_csr(ED25519_CSR).unwrap().validate(&bob).unwrap_err();
    assert_eq!(err.code(), ErrorCode::CsrCommonNameMismatch);
}

/// A scratch directory under the system temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "polyhome-certs-test-{}-{}",
            std::process::id(),
            Serial::random().to_hex()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `openssl` with `args` in `dir`; `None` when OpenSSL is not installed.
fn openssl(dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => Some((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("could not run openssl: {e}"),
    }
}

#[track_caller]
fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, output) = openssl(dir, args).expect("openssl vanished");
    assert!(ok, "openssl {args:?} failed:\n{output}");
    output
}

#[test]
fn openssl_cli_made_csr_gets_a_cert_openssl_verifies() {
    let scratch = Scratch::new();
    let dir = &scratch.0;
    if openssl(dir, &["version"]).is_none() {
        eprintln!("SKIPPED: the openssl command line tool is not installed");
        return;
    }
    openssl_ok(dir, &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"]);
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            "/CN=alice/DC=example/DC=com/UID=alice@example.com/uniqueIdentifier=sess1",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-out",
            "req.pem",
        ],
    );
    // OpenSSL writes uniqueIdentifier with OID 0.9.2342.19200300.100.1.44.
    let parsed = openssl_ok(dir, &["asn1parse", "-in", "req.pem", "-i"]);
    assert!(parsed.contains(":uniqueIdentifier"), "{parsed}");
    let csr_text = std::fs::read_to_string(scratch.path("req.pem")).unwrap();
    let (_, csr_der) = der::pem::decode_vec(csr_text.as_bytes()).unwrap();
    assert!(csr_der.windows(12).any(|w| w == UNIQUE_IDENTIFIER_OID_DER));

    let csr = check(&csr_text).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let server =
        ServerIdentity::generate(&example_com(), Serial::random(), now - 60, now + YEAR).unwrap();
    let issued = server
        .issue(&csr, Serial::random(), now - 30, now + 3600)
        .unwrap();
    std::fs::write(scratch.path("server.pem"), server.cert_pem()).unwrap();
    std::fs::write(scratch.path("actor.pem"), &issued.pem).unwrap();

    let verified = openssl_ok(dir, &["verify", "-CAfile", "server.pem", "actor.pem"]);
    assert!(verified.contains("actor.pem: OK"), "{verified}");

    let text = openssl_ok(dir, &["x509", "-in", "actor.pem", "-noout", "-text"]);
    for expected in [
        "Version: 3 (0x2)",
        "Signature Algorithm: ED25519",
        "Issuer: DC = example, DC = com",
        "Subject: CN = alice, DC = example, DC = com, UID = alice@example.com",
        "X509v3 Basic Constraints: critical",
        "CA:FALSE",
        "X509v3 Key Usage: critical",
        "Digital Signature",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(
        text.matches("X509v3 ").count(),
        3,
        "only two extensions:\n{text}"
    );
    // The certificate's key is the CSR's.
    let cert_key = openssl_ok(dir, &["x509", "-in", "actor.pem", "-noout", "-pubkey"]);
    let csr_key = openssl_ok(dir, &["pkey", "-in", "k.pem", "-pubout"]);
    assert_eq!(cert_key, csr_key);

    let root = openssl_ok(dir, &["x509", "-in", "server.pem", "-noout", "-text"]);
    for expected in [
        "Issuer: DC = example, DC = com",
        "Subject: DC = example, DC = com",
        "X509v3 Basic Constraints: critical",
        "CA:TRUE, pathlen:0",
        "X509v3 Key Usage: critical",
        "Certificate Sign, CRL Sign",
    ] {
        assert!(root.contains(expected), "missing {expected:?} in:\n{root}");
    }
    assert!(!root.contains("CN ="), "{root}");

    // The check can fail: another server's root does not verify the certificate, nor does a
    // tampered certificate verify.
    let other =
        ServerIdentity::generate(&example_com(), Serial::random(), now - 60, now + YEAR).unwrap();
    std::fs::write(scratch.path("other.pem"), other.cert_pem()).unwrap();
    let (ok, output) = openssl(dir, &["verify", "-CAfile", "other.pem", "actor.pem"]).unwrap();
    assert!(!ok, "{output}");
    let mut tampered = issued.der.clone();
    let at = tampered.windows(5).position(|w| w == b"sess1").unwrap();
    tampered[at] ^= 1;
    std::fs::write(scratch.path("tampered.pem"), pem("CERTIFICATE", &tampered)).unwrap();
    let (ok, output) = openssl(dir, &["verify", "-CAfile", "server.pem", "tampered.pem"]).unwrap();
    assert!(!ok, "{output}");

    // An EC key's CSR from the same tool is refused.
    openssl_ok(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
    );
    openssl_ok(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "ec.pem",
            "-subj",
            "/CN=alice/DC=example/DC=com/UID=alice@example.com/uniqueIdentifier=sess1",
            "-addext",
            "keyUsage=critical,digitalSignature",
            "-out",
            "ec-req.pem",
        ],
    );
    let ec = std::fs::read_to_string(scratch.path("ec-req.pem")).unwrap();
    assert_eq!(
        check(&ec).unwrap_err().code(),
        ErrorCode::UnsupportedKeyAlgorithm
    );
}
