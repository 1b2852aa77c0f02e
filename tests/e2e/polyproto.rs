//! The `polyproto` crate 0.8.0, the reference Rust library of the same spec version, as a client:
//! its ID-CSRs are accepted, and what the server answers parses into its certificate types.

use std::str::FromStr;

use der::{Decode, Encode};
use polyproto::certs::capabilities::{Capabilities, KeyUsage, KeyUsages};
use polyproto::certs::idcert::IdCert;
use polyproto::certs::idcerttbs::IdCertTbs;
use polyproto::certs::idcsr::IdCsr;
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::harness::{TestServer, DOMAIN, PASSWORD};
use crate::polyproto_keys::{ed25519_algorithm, Ed25519PrivateKey, Ed25519PublicKey, Ed25519Signature};

type PolyCert = IdCert<Ed25519Signature, Ed25519PublicKey>;
type PolyTbs = IdCertTbs<Ed25519Signature, Ed25519PublicKey>;

/// x509-cert reads RFC 4514 strings last RDN first, so this is the DER order
/// DC=polyhome, DC=test, CN=alice, UID, uniqueIdentifier. The DCs come first because polyproto
/// 0.8.0 compares the issuer's and subject's domain components by RDN position, and the root
/// certificate's subject is its DCs alone.
fn subject(session: &str) -> Name {
    Name::from_str(&format!("uniqueIdentifier={session},UID=alice@{DOMAIN},CN=alice,DC=test,DC=polyhome")).unwrap()
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    der::pem::decode_vec(pem.as_bytes()).unwrap().1
}

#[test]
fn polyproto_csr_gets_an_id_cert_polyproto_reads() {
    let server = TestServer::start();
    server.register("alice");
    let key = Ed25519PrivateKey::generate();
    let csr = IdCsr::<Ed25519Signature, Ed25519PublicKey>::new(&subject("poly-1"), &key, &Capabilities::default_actor())
        .expect("polyproto builds the CSR");
    let csr_der = csr.to_der().unwrap();
    let csr_pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &csr_der).unwrap();

    let answer = server.trust("alice", PASSWORD, &csr_pem);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let cert_der = pem_to_der(answer.body["id_cert"].as_str().unwrap());
    let root_der = pem_to_der(&server.server_cert());

    // The server certificate is self-signed and passes polyproto's whole validation.
    let root = PolyCert::from_der(root_der.clone()).expect("polyproto accepts the server certificate");
    assert!(root.id_cert_tbs.capabilities.basic_constraints.ca);
    assert_eq!(root.id_cert_tbs.capabilities.basic_constraints.path_length, Some(0));
    assert!(root.id_cert_tbs.capabilities.key_usage.key_usages.contains(&KeyUsage::KeyCertSign));

    // The ID-Cert's TBS part parses into polyproto's type with the subject, key and capabilities
    // the CSR asked for, and the server as issuer.
    let cert = Certificate::from_der(&cert_der).unwrap();
    let tbs = PolyTbs::from_der(&cert.tbs_certificate.to_der().unwrap()).expect("polyproto reads the ID-Cert");
    assert_eq!(tbs.subject, subject("poly-1"));
    assert_eq!(tbs.issuer, root.id_cert_tbs.subject);
    assert_eq!(tbs.subject_public_key_info, key.public);
    assert!(!tbs.capabilities.basic_constraints.ca);
    assert_eq!(tbs.capabilities.key_usage, KeyUsages::new(&[KeyUsage::DigitalSignature]));

    // polyproto's whole-certificate validation checks capabilities, names and domain components,
    // and then the signature — with the certificate's own subject key, so a CA-signed
    // certificate can never pass that last step in 0.8.0. Every check before it passes:
    let err = PolyCert::from_der(cert_der.clone()).unwrap_err();
    assert!(format!("{err:?}").contains("Provided signature does not match computed signature"), "{err:?}");
    // ...and the signature is verified here against the server certificate's key instead.
    let server_key = Ed25519PublicKey(
        ed25519_dalek::VerifyingKey::from_bytes(root.id_cert_tbs.subject_public_key_info.0.as_bytes()).unwrap(),
    );
    assert_eq!(cert.signature_algorithm, ed25519_algorithm());
    let signature = ed25519_dalek::Signature::from_slice(cert.signature.raw_bytes()).unwrap();
    server_key
        .0
        .verify_strict(&cert.tbs_certificate.to_der().unwrap(), &signature)
        .expect("the ID-Cert is signed by the server's key");
}

#[test]
fn polyproto_content_commitment_csr_is_accepted() {
    let server = TestServer::start();
    server.register("alice");
    let key = Ed25519PrivateKey::generate();
    let capabilities = Capabilities {
        key_usage: KeyUsages::new(&[KeyUsage::ContentCommitment]),
        ..Capabilities::default_actor()
    };
    let csr = IdCsr::<Ed25519Signature, Ed25519PublicKey>::new(&subject("poly-2"), &key, &capabilities).unwrap();
    let csr_pem =
        der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &csr.to_der().unwrap()).unwrap();
    let answer = server.trust("alice", PASSWORD, &csr_pem);
    assert_eq!(answer.status, 201, "{}", answer.body);
    let cert = Certificate::from_der(&pem_to_der(answer.body["id_cert"].as_str().unwrap())).unwrap();
    let tbs = PolyTbs::from_der(&cert.tbs_certificate.to_der().unwrap()).unwrap();
    assert_eq!(tbs.capabilities.key_usage, KeyUsages::new(&[KeyUsage::ContentCommitment]));
}

#[test]
fn polyproto_csr_for_another_actor_is_refused() {
    let server = TestServer::start();
    server.register("alice");
    server.register("bob");
    let key = Ed25519PrivateKey::generate();
    // alice's CSR, presented with bob's credentials.
    let csr = IdCsr::<Ed25519Signature, Ed25519PublicKey>::new(&subject("x"), &key, &Capabilities::default_actor()).unwrap();
    let csr_pem =
        der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &csr.to_der().unwrap()).unwrap();
    server.trust("bob", PASSWORD, &csr_pem).assert_error(400, "P2CORE_CSR_COMMON_NAME_MISMATCH");
    assert_eq!(server.cert_count("bob"), 0);
}
