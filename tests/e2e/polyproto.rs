//! The `polyproto` crate 0.8.0, the reference Rust library of the same spec version, as a client:
//! its ID-CSRs are accepted, and what the server answers parses into its certificate types.

use std::str::FromStr;

use der::{Decode, Encode};
use polyproto::certs::capabilities::{Capabilities, KeyUsage, KeyUsages};
use polyproto::certs::idcert::IdCert;
use polyproto::certs::idcerttbs::IdCertTbs;
use polyproto::certs::idcsr::IdCsr;
use polyproto::key::PublicKey;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::harness::{TestServer, DOMAIN, PASSWORD};
use crate::polyproto_keys::{
    ed25519_algorithm, Ed25519PrivateKey, Ed25519PublicKey, Ed25519Signature,
};

type PolyCert = IdCert<Ed25519Signature, Ed25519PublicKey>;
type PolyTbs = IdCertTbs<Ed25519Signature, Ed25519PublicKey>;

/// x509-cert reads RFC 4514 strings last RDN first, so this is the DER order
/// DC=polyhome, DC=test, CN=alice, UID, uniqueIdentifier. The DCs come first because polyproto
/// 0.8.0 compares the issuer's and subject's domain components by RDN position, and the root
/// certificate's subject is its DCs alone.
fn subject(session: &str) -> Name {
    Name::from_str(&format!(
        "uniqueIdentifier={session},UID=alice@{DOMAIN},CN=alice,DC=test,DC=polyhome"
    ))
    .unwrap()
}

/// A new key and an ID-CSR for it, written by polyproto, as PEM.
fn polyproto_csr(subject: &Name, capabilities: &Capabilities) -> (Ed25519PrivateKey, String) {
    let key = Ed25519PrivateKey::generate();
    let csr = IdCsr::<Ed25519Signature, Ed25519PublicKey>::new(subject, &key, capabilities)
        .expect("polyproto builds the CSR");
    let der = csr.to_der().unwrap();
    let pem =
        der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der).unwrap();
    (key, pem)
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    der::pem::decode_vec(pem.as_bytes()).unwrap().1
}

#[test]
fn polyproto_csr_gets_an_id_cert_polyproto_reads() {
    let server = TestServer::start();
    server.register("alice");
    let (key, csr_pem) = polyproto_csr(&subject("poly-1"), &Capabilities::default_actor());

    let answer = server.trust("alice", PASSWORD, &csr_pem);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let cert_der = pem_to_der(answer.body["id_cert"].as_str().unwrap());
    let root_der = pem_to_der(&server.server_cert());

    // Both certificates parse into polyproto's types (parsing checks the subject name and reads
    // the capabilities)...
    let root = parse_tbs(&root_der);
    assert!(root.capabilities.basic_constraints.ca);
    assert_eq!(root.capabilities.basic_constraints.path_length, Some(0));
    assert!(root
        .capabilities
        .key_usage
        .key_usages
        .contains(&KeyUsage::KeyCertSign));
    let tbs = parse_tbs(&cert_der);
    assert_eq!(tbs.subject, subject("poly-1"));
    assert_eq!(tbs.issuer, root.subject);
    assert_eq!(tbs.subject_public_key_info, key.public);
    assert!(!tbs.capabilities.basic_constraints.ca);
    assert_eq!(
        tbs.capabilities.key_usage,
        KeyUsages::new(&[KeyUsage::DigitalSignature])
    );

    // ...and pass its name and capability checks. Those are private in 0.8.0 and run only inside
    // `IdCert::from_der`: capabilities, issuer and subject names, equal domain components, and
    // last the signature — checked with the certificate's *own* subject key, over polyproto's own
    // re-encoding of the TBS part (which writes key usage and basic constraints in non-DER
    // forms). No CA-signed certificate can pass that last step, and no DER-encoded one at all.
    // Every check before it passes: the error is the signature's and nothing else.
    for der in [&root_der, &cert_der] {
        let err = PolyCert::from_der(der.clone()).unwrap_err();
        assert!(
            format!("{err:?}").contains("Provided signature does not match computed signature"),
            "{err:?}"
        );
    }
    // So the signatures are verified here instead, strictly, with the server certificate's key:
    // the ID-Cert's and the server certificate's own.
    for der in [&root_der, &cert_der] {
        assert_signed_by(der, &root.subject_public_key_info);
    }
}

fn parse_tbs(cert_der: &[u8]) -> PolyTbs {
    let cert = Certificate::from_der(cert_der).unwrap();
    PolyTbs::from_der(&cert.tbs_certificate.to_der().unwrap())
        .expect("polyproto reads the certificate")
}

#[track_caller]
fn assert_signed_by(cert_der: &[u8], key: &Ed25519PublicKey) {
    let cert = Certificate::from_der(cert_der).unwrap();
    assert_eq!(cert.signature_algorithm, ed25519_algorithm());
    let signature =
        Ed25519Signature(ed25519_dalek::Signature::from_slice(cert.signature.raw_bytes()).unwrap());
    key.verify_signature(&signature, &cert.tbs_certificate.to_der().unwrap())
        .expect("signed by the server's identity key");
}

#[test]
fn polyproto_content_commitment_csr_is_accepted() {
    let server = TestServer::start();
    server.register("alice");
    let capabilities = Capabilities {
        key_usage: KeyUsages::new(&[KeyUsage::ContentCommitment]),
        ..Capabilities::default_actor()
    };
    let (_, csr_pem) = polyproto_csr(&subject("poly-2"), &capabilities);
    let answer = server.trust("alice", PASSWORD, &csr_pem);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let der = pem_to_der(answer.body["id_cert"].as_str().unwrap());
    let err = PolyCert::from_der(der.clone()).unwrap_err();
    assert!(
        format!("{err:?}").contains("Provided signature does not match computed signature"),
        "{err:?}"
    );
    let tbs = parse_tbs(&der);
    assert_eq!(
        tbs.capabilities.key_usage,
        KeyUsages::new(&[KeyUsage::ContentCommitment])
    );
}

#[test]
fn polyproto_csr_for_another_actor_is_refused() {
    let server = TestServer::start();
    server.register("alice");
    server.register("bob");
    // alice's CSR, presented with bob's credentials.
    let (_, csr_pem) = polyproto_csr(&subject("x"), &Capabilities::default_actor());
    server
        .trust("bob", PASSWORD, &csr_pem)
        .assert_error(400, "P2CORE_CSR_COMMON_NAME_MISMATCH");
    assert_eq!(server.cert_count("bob"), 0);
}
