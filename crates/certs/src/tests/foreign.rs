//! Foreign actor ID-Certs and home server root certificates: reading, every structural check,
//! validity, domains, the issuer's signature and challenge signatures.

use base64::Engine;
use der::asn1::Null;
use rand::Rng;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::*;
use crate::{parse_actor_cert, parse_root_cert, pem_to_der, ActorCert, ForeignCertError, RootCert};

const OPENSSL_ROOT: &str = include_str!("fixtures/openssl-root.cert.pem");
const OPENSSL_ALICE: &str = include_str!("fixtures/openssl-alice.cert.pem");
const OPENSSL_ALICE_P256: &str = include_str!("fixtures/openssl-alice-p256.cert.pem");
const P256_SELF_SIGNED: &str = include_str!("fixtures/alice-p256-self-signed.cert.pem");
const ED25519_SELF_SIGNED: &str = include_str!("fixtures/alice-self-signed.cert.pem");
const ED25519_CSR: &str = include_str!("fixtures/alice-ed25519.csr.pem");

/// Builds and signs certificates; every part can be replaced. See [`CertBuilder::root`] and
/// [`CertBuilder::actor`] for the defaults.
pub(crate) struct CertBuilder {
    pub version: Version,
    pub serial: SerialNumber,
    pub tbs_algorithm: AlgorithmIdentifierOwned,
    pub issuer: Name,
    pub not_before: u64,
    pub not_after: u64,
    pub subject: Name,
    /// The subject's key pair; its public half goes into the certificate unless `spki` is set.
    pub subject_key: SigningKey,
    pub spki: Option<SubjectPublicKeyInfoOwned>,
    pub extensions: Vec<Extension>,
    pub algorithm: AlgorithmIdentifierOwned,
    pub signer: SigningKey,
}

pub(crate) fn example_com_rdns() -> Vec<RelativeDistinguishedName> {
    vec![single(DC, "example"), single(DC, "com")]
}

pub(crate) fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).unwrap(),
    }
}

fn bc(ca: bool, path_len: Option<u8>) -> Extension {
    extension(
        asn1::BASIC_CONSTRAINTS,
        true,
        asn1::encode_basic_constraints(ca, path_len).unwrap(),
    )
}

impl CertBuilder {
    /// A root ID-Cert for example.com, as polyhome writes it, self-signed by a fresh key and
    /// valid from a year before [`NOW`] to a year after.
    pub fn root() -> CertBuilder {
        let key = signing_key();
        CertBuilder {
            version: Version::V3,
            serial: SerialNumber::new(&[0x01]).unwrap(),
            tbs_algorithm: ed25519_algorithm(),
            issuer: name(example_com_rdns()),
            not_before: NOW - YEAR,
            not_after: NOW + YEAR,
            subject: name(example_com_rdns()),
            subject_key: key.clone(),
            spki: None,
            extensions: vec![
                bc(true, Some(0)),
                ku_extension(ku::KEY_CERT_SIGN | ku::CRL_SIGN),
            ],
            algorithm: ed25519_algorithm(),
            signer: key,
        }
    }

    /// alice's ID-Cert (session sess1, a fresh key) issued by `root`, valid for an hour
    /// either side of [`NOW`], with critical CA:FALSE and digitalSignature.
    pub fn actor(root: &CertBuilder) -> CertBuilder {
        CertBuilder {
            serial: SerialNumber::new(&[0x12, 0x34]).unwrap(),
            issuer: root.subject.clone(),
            not_before: NOW - 3600,
            not_after: NOW + 3600,
            subject: name(alice_rdns()),
            subject_key: signing_key(),
            extensions: vec![bc_extension(false), ku_extension(ku::DIGITAL_SIGNATURE)],
            signer: root.subject_key.clone(),
            ..CertBuilder::root()
        }
    }

    pub fn tbs(&self) -> TbsCertificate {
        TbsCertificate {
            version: self.version,
            serial_number: self.serial.clone(),
            signature: self.tbs_algorithm.clone(),
            issuer: self.issuer.clone(),
            validity: Validity {
                not_before: asn1::x509_time(self.not_before).unwrap(),
                not_after: asn1::x509_time(self.not_after).unwrap(),
            },
            subject: self.subject.clone(),
            subject_public_key_info: self
                .spki
                .clone()
                .unwrap_or_else(|| ed25519_spki(&self.subject_key.verifying_key())),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: (!self.extensions.is_empty()).then(|| self.extensions.clone()),
        }
    }

    /// The certificate with `signature` in place of the signer's.
    pub fn der_with_signature(&self, signature: &[u8]) -> Vec<u8> {
        Certificate {
            tbs_certificate: self.tbs(),
            signature_algorithm: self.algorithm.clone(),
            signature: BitString::from_bytes(signature).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    pub fn der(&self) -> Vec<u8> {
        let signature = self.signer.sign(&self.tbs().to_der().unwrap());
        self.der_with_signature(&signature.to_bytes())
    }

    pub fn pem(&self) -> String {
        pem("CERTIFICATE", &self.der())
    }

    pub fn parse(&self) -> Result<ActorCert, ForeignCertError> {
        parse_actor_cert(&self.pem())
    }

    pub fn parse_root(&self) -> Result<RootCert, ForeignCertError> {
        parse_root_cert(&self.pem())
    }
}

/// The message of a `Malformed` refusal; panics on anything else.
#[track_caller]
fn malformed(result: Result<ActorCert, ForeignCertError>) -> String {
    match result {
        Err(e @ ForeignCertError::Malformed(_)) => {
            assert_eq!(e.code(), ErrorCode::IdCertMalformed);
            e.to_string()
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// The message of a `RootMalformed` refusal; panics on anything else.
#[track_caller]
fn root_malformed(result: Result<RootCert, ForeignCertError>) -> String {
    match result {
        Err(e @ ForeignCertError::RootMalformed(_)) => {
            assert_eq!(e.code(), ErrorCode::HomeServerUnreachable);
            e.to_string()
        }
        other => panic!("expected RootMalformed, got {other:?}"),
    }
}

/// The message of a `NotSignedByHomeServer` refusal; panics on anything else.
#[track_caller]
fn not_signed(result: Result<(), ForeignCertError>) -> String {
    match result {
        Err(e @ ForeignCertError::NotSignedByHomeServer(_)) => {
            assert_eq!(e.code(), ErrorCode::IdCertNotSignedByHomeServer);
            e.to_string()
        }
        other => panic!("expected NotSignedByHomeServer, got {other:?}"),
    }
}

/// A certificate polyhome issued to alice (session sess1), its CSR builder and the server.
fn polyhome_issued() -> (ServerIdentity, CsrBuilder, crate::IssuedCert) {
    let server = identity();
    let builder = CsrBuilder::new();
    let csr = builder.validate().unwrap();
    let issued = server
        .issue(&csr, Serial::random(), NOW - 60, NOW + 3600)
        .unwrap();
    (server, builder, issued)
}

fn replace_rdns(
    attribute: &str,
    replacement: Vec<RelativeDistinguishedName>,
) -> Vec<RelativeDistinguishedName> {
    let mut rdns = Vec::new();
    let mut replaced = false;
    for rdn in alice_rdns() {
        if rdn.0.as_slice()[0].oid == oid(attribute) {
            if !replaced {
                rdns.extend(replacement.clone());
                replaced = true;
            }
        } else {
            rdns.push(rdn);
        }
    }
    rdns
}

// --- Certificates polyhome issues ---------------------------------------------------------------

#[test]
fn polyhome_issued_cert_passes_every_check() {
    let (server, builder, issued) = polyhome_issued();
    let cert = parse_actor_cert(&issued.pem).unwrap();
    assert_eq!(cert.fid(), &alice());
    assert_eq!(cert.session_id().as_str(), "sess1");
    assert_eq!(cert.issuer_domain(), &example_com());
    assert_eq!(cert.serial(), &issued.serial);
    assert_eq!(
        (cert.not_before(), cert.not_after()),
        (issued.not_before, issued.not_after)
    );
    assert_eq!(cert.public_key(), builder.key.verifying_key().as_bytes());
    assert_eq!(cert.der(), issued.der.as_slice());
    assert_eq!(cert.pem(), issued.pem);
    cert.check_domains().unwrap();
    cert.check_validity(NOW).unwrap();

    let root = parse_root_cert(server.cert_pem()).unwrap();
    assert_eq!(root.domain(), &example_com());
    assert_eq!(root.public_key(), server.public_key());
    assert_eq!(
        (root.not_before(), root.not_after()),
        (server.not_before(), server.not_after())
    );
    cert.verify_issued_by(&root).unwrap();

    let challenge = b"a challenge string of sixty-four characters, more or less, 0123";
    let signature = builder.key.sign(challenge).to_bytes();
    cert.verify_signature(challenge, &signature).unwrap();

    // Debug says who it is, not the bytes.
    let debug = format!("{cert:?} {root:?}");
    assert!(debug.contains("alice@example.com") && debug.contains("example.com"));
}

#[test]
fn text_forms_are_accepted() {
    let (_, _, issued) = polyhome_issued();
    let standard = base64::engine::general_purpose::STANDARD.encode(&issued.der);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&issued.der);
    for text in [
        issued.pem.clone(),
        issued.pem.replace('\n', "\r\n"),
        format!("\r\n\t  {}  \n\n", issued.pem),
        standard.clone(),
        format!("{}\n{}", &standard[..64], &standard[64..]),
        url_safe,
    ] {
        assert_eq!(parse_actor_cert(&text).unwrap().der(), issued.der);
    }
}

#[test]
fn pem_to_der_reads_the_root_certificate() {
    let server = identity();
    assert_eq!(
        pem_to_der(server.cert_pem(), "CERTIFICATE").as_deref(),
        Some(server.cert_der())
    );
    assert_eq!(pem_to_der(server.cert_pem(), "CERTIFICATE REQUEST"), None);
}

#[test]
fn a_self_made_ca_claiming_the_same_domain_is_not_the_home_server() {
    let (server, _, issued) = polyhome_issued();
    let cert = parse_actor_cert(&issued.pem).unwrap();
    // Another polyhome for example.com: the same subject name, byte for byte, another key.
    let impostor = identity();
    assert_eq!(
        tbs_der(impostor.cert_der()).len(),
        tbs_der(server.cert_der()).len()
    );
    let impostor_root = parse_root_cert(impostor.cert_pem()).unwrap();
    assert_eq!(impostor_root.domain(), &example_com());
    let message = not_signed(cert.verify_issued_by(&impostor_root));
    assert!(message.contains("signature does not verify"), "{message}");

    // A certificate the impostor issued does not pass under the real root either.
    let forged = impostor
        .issue(
            &CsrBuilder::new().validate().unwrap(),
            Serial::random(),
            NOW,
            NOW + 60,
        )
        .unwrap();
    let forged = parse_actor_cert(&forged.pem).unwrap();
    forged.check_domains().unwrap();
    let real_root = parse_root_cert(server.cert_pem()).unwrap();
    not_signed(forged.verify_issued_by(&real_root));

    // A root for another domain: the names differ before any signature is checked.
    let other = ServerIdentity::generate(
        &"example.org".parse().unwrap(),
        Serial::random(),
        NOW - 10,
        NOW + 10,
    )
    .unwrap();
    let message = not_signed(cert.verify_issued_by(&parse_root_cert(other.cert_pem()).unwrap()));
    assert!(message.contains("byte for byte"), "{message}");
    assert!(message.contains("DC=example"), "{message}");
}

#[test]
fn tampered_certificates_are_not_signed_by_the_home_server() {
    let (server, _, issued) = polyhome_issued();
    let root = parse_root_cert(server.cert_pem()).unwrap();
    let reparse = |der: &[u8]| parse_actor_cert(&pem("CERTIFICATE", der)).unwrap();

    // The session ID, inside the signed TBS certificate: still well-formed, no longer signed.
    let at = issued.der.windows(5).position(|w| w == b"sess1").unwrap();
    let mut tampered = issued.der.clone();
    tampered[at + 4] ^= 1;
    let cert = reparse(&tampered);
    assert_eq!(cert.session_id().as_str(), "sess0");
    not_signed(cert.verify_issued_by(&root));

    // The validity's last digit.
    let mut tampered = issued.der.clone();
    let at = tampered.windows(2).position(|w| w == [0x17, 0x0d]).unwrap();
    tampered[at + 2 + 11] ^= 1;
    let cert = reparse(&tampered);
    assert_ne!(cert.not_before(), issued.not_before);
    not_signed(cert.verify_issued_by(&root));

    // Each of a few signature bits.
    for (index, bit) in [(issued.der.len() - 1, 0), (issued.der.len() - 64, 7)] {
        let mut tampered = issued.der.clone();
        tampered[index] ^= 1 << bit;
        not_signed(reparse(&tampered).verify_issued_by(&root));
    }
    // The signature replaced by the actor's own over the same TBS certificate.
    let mut tampered = issued.der.clone();
    let actor = signing_key();
    let own = actor.sign(&tbs_der(&issued.der)).to_bytes();
    let len = tampered.len();
    tampered[len - 64..].copy_from_slice(&own);
    not_signed(reparse(&tampered).verify_issued_by(&root));
    // A malleated server signature (S + L) is refused, as is one only a lax verifier accepts.
    let mut tampered = issued.der.clone();
    let signature: [u8; 64] = issued.der[len - 64..].try_into().unwrap();
    tampered[len - 64..].copy_from_slice(&malleate(&signature));
    not_signed(reparse(&tampered).verify_issued_by(&root));

    parse_actor_cert(&issued.pem)
        .unwrap()
        .verify_issued_by(&root)
        .unwrap();
}

#[test]
fn a_lax_only_issuer_signature_is_not_signed_by_the_home_server() {
    let root = CertBuilder::root();
    let actor = CertBuilder::actor(&root);
    let tbs = actor.tbs().to_der().unwrap();
    let forged = small_order_r_signature(&root.signer, &tbs);
    let der = actor.der_with_signature(&forged);
    let cert = parse_actor_cert(&pem("CERTIFICATE", &der)).unwrap();
    let parsed_root = root.parse_root().unwrap();
    not_signed(cert.verify_issued_by(&parsed_root));
    // The honest signature passes.
    actor
        .parse()
        .unwrap()
        .verify_issued_by(&parsed_root)
        .unwrap();
}

// --- Validity and domains -----------------------------------------------------------------------

#[test]
fn validity_includes_both_ends_and_nothing_else() {
    let root = CertBuilder::root();
    let mut actor = CertBuilder::actor(&root);
    actor.not_before = NOW;
    actor.not_after = NOW + 100;
    let cert = actor.parse().unwrap();
    cert.check_validity(NOW).unwrap();
    cert.check_validity(NOW + 100).unwrap();
    for (now, word) in [
        (NOW - 1, "not yet valid"),
        (0, "not yet valid"),
        (NOW + 101, "expired"),
        (u64::MAX, "expired"),
    ] {
        let err = cert.check_validity(now).unwrap_err();
        assert_eq!(
            err,
            ForeignCertError::OutsideValidity {
                now,
                not_before: NOW,
                not_after: NOW + 100
            }
        );
        assert_eq!(err.code(), ErrorCode::IdCertOutsideValidity);
        assert!(err.to_string().contains(word), "{err}");
    }
    assert!(cert
        .check_validity(NOW + 101)
        .unwrap_err()
        .to_string()
        .contains("2023-11-14T22:13:20Z"));

    // polyhome's own certificate, expired and not yet valid.
    let (_, _, issued) = polyhome_issued();
    let cert = parse_actor_cert(&issued.pem).unwrap();
    assert!(cert.check_validity(issued.not_after + 1).is_err());
    assert!(cert.check_validity(issued.not_before - 1).is_err());
}

#[test]
fn issuer_domain_must_be_the_uid_domain() {
    // A home server for evil.com issues alice@example.com a certificate. It is well-formed and
    // really signed by evil.com's root: only the domain check refuses it.
    let mut root = CertBuilder::root();
    root.subject = name(vec![single(DC, "evil"), single(DC, "com")]);
    root.issuer = root.subject.clone();
    let actor = CertBuilder::actor(&root);
    let cert = actor.parse().unwrap();
    assert_eq!(cert.issuer_domain().as_str(), "evil.com");
    cert.verify_issued_by(&root.parse_root().unwrap()).unwrap();
    let err = cert.check_domains().unwrap_err();
    assert_eq!(
        err,
        ForeignCertError::DomainMismatch {
            issuer_domain: "evil.com".parse().unwrap(),
            uid_domain: example_com(),
            subject_domain: example_com(),
        }
    );
    assert_eq!(err.code(), ErrorCode::IdCertDomainMismatch);
    assert!(err.to_string().contains("evil.com"), "{err}");

    // The subject's DCs disagree with the issuer and UID.
    let root = CertBuilder::root();
    let mut actor = CertBuilder::actor(&root);
    actor.subject = name(replace_rdns(
        DC,
        vec![single(DC, "other"), single(DC, "com")],
    ));
    let err = actor.parse().unwrap().check_domains().unwrap_err();
    let ForeignCertError::DomainMismatch { subject_domain, .. } = err else {
        panic!("expected DomainMismatch, got {err:?}")
    };
    assert_eq!(subject_domain.as_str(), "other.com");
    // The UID's domain disagrees with both.
    let mut actor = CertBuilder::actor(&root);
    actor.subject = name(replace_rdns(UID, vec![single(UID, "alice@example.org")]));
    assert_eq!(
        actor.parse().unwrap().check_domains().unwrap_err().code(),
        ErrorCode::IdCertDomainMismatch
    );
    // A prefix is not the domain: DC=example alone.
    let mut actor = CertBuilder::actor(&root);
    actor.issuer = name(vec![single(DC, "example")]);
    assert!(actor.parse().unwrap().check_domains().is_err());
    // The DC order counts: com.example is not example.com.
    let mut actor = CertBuilder::actor(&root);
    actor.issuer = name(vec![single(DC, "com"), single(DC, "example")]);
    let cert = actor.parse().unwrap();
    assert_eq!(cert.issuer_domain().as_str(), "com.example");
    assert!(cert.check_domains().is_err());

    // Case does not matter, and the issuer name's string type does not either here.
    let mut actor = CertBuilder::actor(&root);
    actor.issuer = name(vec![
        rdn(vec![atv_as(DC, "EXAMPLE", Str::Utf8)]),
        rdn(vec![atv_as(DC, "Com", Str::Printable)]),
    ]);
    let cert = actor.parse().unwrap();
    assert_eq!(cert.issuer_domain(), &example_com());
    cert.check_domains().unwrap();
    // But the issuer must then be the root's subject byte for byte.
    let message = not_signed(cert.verify_issued_by(&root.parse_root().unwrap()));
    assert!(message.contains("byte for byte"), "{message}");
}

#[test]
fn validity_must_lie_within_the_home_server_certificate() {
    let root = CertBuilder::root();
    let parsed_root = root.parse_root().unwrap();
    let mut actor = CertBuilder::actor(&root);
    // Exactly the root's validity is still within it.
    actor.not_before = root.not_before;
    actor.not_after = root.not_after;
    actor
        .parse()
        .unwrap()
        .verify_issued_by(&parsed_root)
        .unwrap();
    for (not_before, not_after) in [
        (root.not_before - 1, NOW),
        (NOW, root.not_after + 1),
        (root.not_before - YEAR, root.not_after + YEAR),
    ] {
        actor.not_before = not_before;
        actor.not_after = not_after;
        let message = not_signed(actor.parse().unwrap().verify_issued_by(&parsed_root));
        assert!(message.contains("not within the validity"), "{message}");
    }
}

// --- Actor certificate structure ----------------------------------------------------------------

#[test]
fn a_built_actor_cert_is_accepted_and_verifies() {
    let root = CertBuilder::root();
    let actor = CertBuilder::actor(&root);
    let cert = actor.parse().unwrap();
    cert.check_domains().unwrap();
    cert.check_validity(NOW).unwrap();
    cert.verify_issued_by(&root.parse_root().unwrap()).unwrap();
    assert_eq!(cert.serial().to_hex(), "1234");
    assert_eq!(
        cert.public_key(),
        actor.subject_key.verifying_key().as_bytes()
    );
}

#[test]
fn a_ca_actor_cert_is_malformed() {
    let root = CertBuilder::root();
    for extensions in [
        vec![bc(true, None), ku_extension(ku::DIGITAL_SIGNATURE)],
        vec![bc(true, Some(0)), ku_extension(ku::DIGITAL_SIGNATURE)],
    ] {
        let mut actor = CertBuilder::actor(&root);
        actor.extensions = extensions;
        let message = malformed(actor.parse());
        assert!(message.contains("CA:TRUE"), "{message}");
    }
    // The root itself, presented as an actor's certificate.
    malformed(root.parse());
    malformed(parse_actor_cert(identity().cert_pem()));
    // OpenSSL's self-signed alice certificate (CA:TRUE, and its issuer is alice, UID and all).
    let message = malformed(parse_actor_cert(ED25519_SELF_SIGNED));
    assert!(message.contains("issuer has a UID"), "{message}");

    // Without basicConstraints, or CA:FALSE written out as polyproto does: accepted.
    let mut actor = CertBuilder::actor(&root);
    actor.extensions = vec![ku_extension(ku::DIGITAL_SIGNATURE)];
    actor.parse().unwrap();
    actor.extensions.push(extension(
        asn1::BASIC_CONSTRAINTS,
        true,
        vec![0x30, 0x03, 0x01, 0x01, 0x00],
    ));
    actor.parse().unwrap();
}

#[test]
fn key_usage_must_be_critical_signing_and_not_certificate_signing() {
    let root = CertBuilder::root();
    let with = |extensions: Vec<Extension>| {
        let mut actor = CertBuilder::actor(&root);
        actor.extensions = extensions;
        actor.parse()
    };
    let message = malformed(with(vec![bc_extension(false)]));
    assert!(message.contains("no keyUsage"), "{message}");
    let message = malformed(with(vec![]));
    assert!(message.contains("no keyUsage"), "{message}");
    let message = malformed(with(vec![ku_extension(
        ku::DIGITAL_SIGNATURE | ku::KEY_CERT_SIGN,
    )]));
    assert!(message.contains("keyCertSign"), "{message}");
    let message = malformed(with(vec![ku_extension(1 << 2)]));
    assert!(message.contains("keyEncipherment"), "{message}");
    let mut not_critical = ku_extension(ku::DIGITAL_SIGNATURE);
    not_critical.critical = false;
    let message = malformed(with(vec![not_critical]));
    assert!(message.contains("not marked critical"), "{message}");
    let mut not_critical = bc_extension(false);
    not_critical.critical = false;
    let message = malformed(with(vec![
        not_critical,
        ku_extension(ku::DIGITAL_SIGNATURE),
    ]));
    assert!(message.contains("basicConstraints"), "{message}");
    // Not a BIT STRING.
    malformed(with(vec![extension(
        asn1::KEY_USAGE,
        true,
        vec![0x04, 0x01, 0x80],
    )]));

    // contentCommitment alone, both, extra bits, and polyproto's encodings are fine.
    for bits in [
        ku::CONTENT_COMMITMENT,
        ku::DIGITAL_SIGNATURE | ku::CONTENT_COMMITMENT,
        ku::DIGITAL_SIGNATURE | ku::CRL_SIGN,
    ] {
        with(vec![ku_extension(bits)]).unwrap();
    }
    for polyproto in [vec![0x03, 0x02, 0x00, 0x80], vec![0x03, 0x02, 0x01, 0x40]] {
        with(vec![extension(asn1::KEY_USAGE, true, polyproto)]).unwrap();
    }
}

#[test]
fn unknown_extensions_must_be_non_critical_and_none_twice() {
    let root = CertBuilder::root();
    let subject_key_identifier = oid("2.5.29.14");
    let private = oid("1.3.6.1.4.1.99999.1");
    let with_extra = |extra: Extension| {
        let mut actor = CertBuilder::actor(&root);
        actor.extensions.push(extra);
        actor.parse()
    };
    let message = malformed(with_extra(extension(private, true, vec![0x05, 0x00])));
    assert!(message.contains("1.3.6.1.4.1.99999.1"), "{message}");
    assert!(message.contains("non-critical"), "{message}");
    let message = malformed(with_extra(extension(
        subject_key_identifier,
        true,
        vec![0x04, 0x01, 0x00],
    )));
    assert!(message.contains("2.5.29.14"), "{message}");
    // Non-critical ones are ignored.
    with_extra(extension(private, false, vec![0x05, 0x00])).unwrap();
    with_extra(extension(
        subject_key_identifier,
        false,
        vec![0x04, 0x01, 0x00],
    ))
    .unwrap();
    // Twice the same extension.
    let message = malformed(with_extra(ku_extension(ku::DIGITAL_SIGNATURE)));
    assert!(message.contains("more than once"), "{message}");
    let mut actor = CertBuilder::actor(&root);
    actor
        .extensions
        .push(extension(private, false, vec![0x05, 0x00]));
    actor
        .extensions
        .push(extension(private, false, vec![0x05, 0x00]));
    let message = malformed(actor.parse());
    assert!(message.contains("more than once"), "{message}");
}

#[test]
fn non_ed25519_certificates_are_malformed() {
    // P-256 throughout, made by OpenSSL.
    let message = malformed(parse_actor_cert(P256_SELF_SIGNED));
    assert!(message.contains("1.2.840.10045.4.3.2"), "{message}");
    // An Ed25519 signature over a P-256 key.
    let message = malformed(parse_actor_cert(OPENSSL_ALICE_P256));
    assert!(message.contains("1.2.840.10045.2.1"), "{message}");
    assert!(message.contains("not Ed25519"), "{message}");
    root_malformed(parse_root_cert(P256_SELF_SIGNED));

    let root = CertBuilder::root();
    let ed448 = AlgorithmIdentifierOwned {
        oid: oid("1.3.101.113"),
        parameters: None,
    };
    // The outer algorithm, the TBS one, or both, not Ed25519.
    let mut actor = CertBuilder::actor(&root);
    actor.algorithm = ed448.clone();
    malformed(actor.parse());
    let mut actor = CertBuilder::actor(&root);
    actor.tbs_algorithm = ed448.clone();
    let message = malformed(actor.parse());
    assert!(message.contains("TBSCertificate"), "{message}");
    // Ed25519 with NULL parameters.
    let mut actor = CertBuilder::actor(&root);
    actor.algorithm.parameters = Some(Any::from(Null));
    malformed(actor.parse());
    let mut actor = CertBuilder::actor(&root);
    let mut spki = ed25519_spki(&actor.subject_key.verifying_key());
    spki.algorithm.parameters = Some(Any::from(Null));
    actor.spki = Some(spki);
    malformed(actor.parse());
    // An Ed448 key.
    let mut actor = CertBuilder::actor(&root);
    actor.spki = Some(SubjectPublicKeyInfoOwned {
        algorithm: ed448,
        subject_public_key: BitString::from_bytes(&[7u8; 57]).unwrap(),
    });
    malformed(actor.parse());
    // A key of 31 octets, and a weak key (the identity point).
    let mut actor = CertBuilder::actor(&root);
    actor.spki = Some(SubjectPublicKeyInfoOwned {
        algorithm: ed25519_algorithm(),
        subject_public_key: BitString::from_bytes(&[7u8; 31]).unwrap(),
    });
    malformed(actor.parse());
    let mut weak = [0u8; 32];
    weak[0] = 1;
    actor.spki = Some(SubjectPublicKeyInfoOwned {
        algorithm: ed25519_algorithm(),
        subject_public_key: BitString::from_bytes(&weak).unwrap(),
    });
    let message = malformed(actor.parse());
    assert!(message.contains("weak"), "{message}");
    // A signature that is not 64 octets.
    let actor = CertBuilder::actor(&root);
    for len in [0, 63, 65] {
        let der = actor.der_with_signature(&vec![1u8; len]);
        malformed(parse_actor_cert(&pem("CERTIFICATE", &der)));
    }
}

#[test]
fn only_x509_v3_with_a_good_serial() {
    let root = CertBuilder::root();
    for version in [Version::V1, Version::V2] {
        let mut actor = CertBuilder::actor(&root);
        actor.version = version;
        actor.extensions.clear();
        let message = malformed(actor.parse());
        assert!(message.contains("v3"), "{message}");
    }
    let with_serial = |serial_der: &[u8]| {
        let mut actor = CertBuilder::actor(&root);
        actor.serial = SerialNumber::from_der(serial_der).unwrap();
        actor.parse()
    };
    let message = malformed(with_serial(&[0x02, 0x01, 0x00]));
    assert!(message.contains("zero"), "{message}");
    let message = malformed(with_serial(&[0x02, 0x01, 0xff]));
    assert!(message.contains("negative"), "{message}");
    // 21 octets: a sign octet and 20 with the top bit set, which x509-cert decodes.
    let mut long = vec![0x02, 21, 0x00];
    long.extend([0x80; 20]);
    malformed(with_serial(&long));
    // 20 octets, top bit clear, are the most allowed.
    let mut longest = vec![0x02, 20];
    longest.extend([0x7f; 20]);
    let cert = with_serial(&longest).unwrap();
    assert_eq!(cert.serial().as_bytes(), [0x7f; 20]);
    // A sign octet before a high first octet is fine.
    assert_eq!(
        with_serial(&[0x02, 0x02, 0x00, 0x80])
            .unwrap()
            .serial()
            .as_bytes(),
        [0x80]
    );
}

#[test]
fn subject_names_are_checked() {
    let root = CertBuilder::root();
    let with_subject = |rdns: Vec<RelativeDistinguishedName>| {
        let mut actor = CertBuilder::actor(&root);
        actor.subject = name(rdns);
        actor.parse()
    };
    // The common name: the actor name or the federation ID, in any case.
    for cn in ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"] {
        with_subject(replace_rdns(CN, vec![single(CN, cn)])).unwrap();
    }
    for (rdns, needle) in [
        (replace_rdns(CN, vec![single(CN, "bob")]), "\"bob\""),
        (replace_rdns(CN, vec![]), "none"),
        (
            replace_rdns(CN, vec![single(CN, "alice"), single(CN, "alice")]),
            "it has 2",
        ),
        (
            replace_rdns(CN, vec![rdn(vec![atv_as(CN, "alice", Str::Bmp)])]),
            "not a UTF8String",
        ),
    ] {
        let message = malformed(with_subject(rdns));
        assert!(message.contains("common name"), "{message}");
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // The UID: exactly one federation ID.
    for (rdns, needle) in [
        (replace_rdns(UID, vec![]), "UID"),
        (
            replace_rdns(
                UID,
                vec![
                    single(UID, "alice@example.com"),
                    single(UID, "alice@example.com"),
                ],
            ),
            "UID",
        ),
        (
            replace_rdns(UID, vec![single(UID, "alice")]),
            "not a federation ID",
        ),
        (
            replace_rdns(UID, vec![single(UID, "al ice@example.com")]),
            "not a federation ID",
        ),
    ] {
        let message = malformed(with_subject(rdns));
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // The UID names whom the CN must name.
    let message = malformed(with_subject(replace_rdns(
        UID,
        vec![single(UID, "bob@example.com")],
    )));
    assert!(message.contains("common name"), "{message}");
    // The uniqueIdentifier: exactly one session ID.
    for rdns in [
        replace_rdns(UNIQUE_ID, vec![]),
        replace_rdns(
            UNIQUE_ID,
            vec![single(UNIQUE_ID, "a"), single(UNIQUE_ID, "b")],
        ),
        replace_rdns(UNIQUE_ID, vec![single(UNIQUE_ID, &"s".repeat(33))]),
        replace_rdns(UNIQUE_ID, vec![single(UNIQUE_ID, "sessión")]),
    ] {
        let message = malformed(with_subject(rdns));
        assert!(message.contains("uniqueIdentifier"), "{message}");
    }
    let cert = with_subject(replace_rdns(
        UNIQUE_ID,
        vec![single(UNIQUE_ID, &"s".repeat(32))],
    ))
    .unwrap();
    assert_eq!(cert.session_id().as_str(), "s".repeat(32));
    // Domain components: at least one, each a single label.
    for rdns in [
        replace_rdns(DC, vec![]),
        replace_rdns(DC, vec![single(DC, "example.com")]),
        replace_rdns(DC, vec![single(DC, "exa mple"), single(DC, "com")]),
        replace_rdns(DC, vec![single(DC, ""), single(DC, "com")]),
        replace_rdns(DC, vec![rdn(vec![atv_as(DC, "example", Str::Bmp)])]),
    ] {
        let message = malformed(with_subject(rdns));
        assert!(message.contains("domain component"), "{message}");
    }
    // Multi-valued RDNs, other attributes and the three string types are read.
    with_subject(vec![
        rdn(vec![atv(CN, "alice"), atv(UID, "alice@example.com")]),
        single(DC, "example"),
        single(DC, "com"),
        single("2.5.4.10", "Example Org"),
        rdn(vec![atv_as(UNIQUE_ID, "sess1", Str::Ia5)]),
    ])
    .unwrap();
}

#[test]
fn issuer_names_are_checked() {
    let root = CertBuilder::root();
    let with_issuer = |rdns: Vec<RelativeDistinguishedName>| {
        let mut actor = CertBuilder::actor(&root);
        actor.issuer = name(rdns);
        actor.parse()
    };
    let message = malformed(with_issuer(vec![single(CN, "example.com")]));
    assert!(message.contains("issuer"), "{message}");
    let message = malformed(with_issuer(vec![
        single(DC, "example"),
        single(DC, "com"),
        single(UID, "mallory@example.com"),
    ]));
    assert!(message.contains("UID"), "{message}");
    let message = malformed(with_issuer(vec![single(DC, "example.com")]));
    assert!(message.contains("issuer"), "{message}");
    // An issuer with a CN is read (the root check refuses such a root).
    with_issuer(vec![
        single(CN, "Example CA"),
        single(DC, "example"),
        single(DC, "com"),
    ])
    .unwrap();
}

// --- Other implementations ----------------------------------------------------------------------

#[test]
fn openssl_made_root_and_actor_cert_pass() {
    let root = parse_root_cert(OPENSSL_ROOT).unwrap();
    assert_eq!(root.domain(), &example_com());
    let cert = parse_actor_cert(OPENSSL_ALICE).unwrap();
    assert_eq!(cert.fid(), &alice());
    assert_eq!(cert.session_id().as_str(), "sess1");
    assert_eq!(cert.serial().to_hex(), "1234");
    cert.check_domains().unwrap();
    cert.check_validity(cert.not_before()).unwrap();
    cert.check_validity(cert.not_after()).unwrap();
    assert!(cert.check_validity(NOW).is_err());
    cert.verify_issued_by(&root).unwrap();
    assert!(cert.not_after() > 4_000_000_000, "GeneralizedTime is read");
    // The certificate's key is the CSR's.
    let csr = crate::parse_csr(ED25519_CSR)
        .unwrap()
        .validate(&alice())
        .unwrap();
    assert_eq!(cert.public_key(), csr.public_key());

    // Not issued by a polyhome for the same domain, nor does polyhome's issue pass under it.
    let server = identity();
    not_signed(cert.verify_issued_by(&parse_root_cert(server.cert_pem()).unwrap()));
    let (_, _, issued) = polyhome_issued();
    not_signed(
        parse_actor_cert(&issued.pem)
            .unwrap()
            .verify_issued_by(&root),
    );

    // OpenSSL's self-signed alice certificate is no root: it has a CN and no path length.
    root_malformed(parse_root_cert(ED25519_SELF_SIGNED));
}

// --- Root certificates --------------------------------------------------------------------------

#[test]
fn root_structure_is_checked() {
    CertBuilder::root().parse_root().unwrap();
    let with_extensions = |extensions: Vec<Extension>| {
        let mut root = CertBuilder::root();
        root.extensions = extensions;
        root.parse_root()
    };
    let keycertsign = || ku_extension(ku::KEY_CERT_SIGN);
    // keyCertSign alone is enough.
    with_extensions(vec![bc(true, Some(0)), keycertsign()]).unwrap();
    // polyproto's eight-octet path length 0 is read.
    let mut polyproto_bc = vec![0x30, 0x0d, 0x01, 0x01, 0xff, 0x02, 0x08];
    polyproto_bc.extend([0u8; 8]);
    with_extensions(vec![
        extension(asn1::BASIC_CONSTRAINTS, true, polyproto_bc),
        extension(asn1::KEY_USAGE, true, vec![0x03, 0x02, 0x05, 0x04]),
    ])
    .unwrap();

    for (extensions, needle) in [
        (vec![bc(true, None), keycertsign()], "no path length"),
        (vec![bc(true, Some(1)), keycertsign()], "path length is 1"),
        (vec![bc(false, None), keycertsign()], "not a CA"),
        (vec![keycertsign()], "no basicConstraints"),
        (vec![bc(true, Some(0))], "no keyUsage"),
        (
            vec![bc(true, Some(0)), ku_extension(ku::CRL_SIGN)],
            "needs keyCertSign",
        ),
        (
            vec![
                bc(true, Some(0)),
                keycertsign(),
                extension(oid("1.3.6.1.4.1.99999.1"), true, vec![0x05, 0x00]),
            ],
            "non-critical",
        ),
        (
            vec![
                extension(
                    asn1::BASIC_CONSTRAINTS,
                    false,
                    asn1::encode_basic_constraints(true, Some(0)).unwrap(),
                ),
                keycertsign(),
            ],
            "not marked critical",
        ),
        (
            vec![
                bc(true, Some(0)),
                extension(
                    asn1::KEY_USAGE,
                    false,
                    asn1::encode_key_usage(ku::KEY_CERT_SIGN)
                        .unwrap()
                        .to_der()
                        .unwrap(),
                ),
            ],
            "not marked critical",
        ),
        (
            vec![
                extension(
                    asn1::BASIC_CONSTRAINTS,
                    true,
                    vec![0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0xff],
                ),
                keycertsign(),
            ],
            "negative",
        ),
    ] {
        let message = root_malformed(with_extensions(extensions));
        assert!(message.contains(needle), "{needle}: {message}");
    }

    // Names: no CN, at least one DC.
    let mut root = CertBuilder::root();
    root.subject = name(vec![
        single(CN, "example.com"),
        single(DC, "example"),
        single(DC, "com"),
    ]);
    root.issuer = root.subject.clone();
    let message = root_malformed(root.parse_root());
    assert!(message.contains("common name"), "{message}");
    let mut root = CertBuilder::root();
    root.subject = name(vec![single("2.5.4.10", "Example")]);
    root.issuer = root.subject.clone();
    let message = root_malformed(root.parse_root());
    assert!(message.contains("domain component"), "{message}");
    // A single-label domain is a domain.
    let mut root = CertBuilder::root();
    root.subject = name(vec![single(DC, "localhost")]);
    root.issuer = root.subject.clone();
    assert_eq!(root.parse_root().unwrap().domain().as_str(), "localhost");

    // Ed25519 only.
    let mut root = CertBuilder::root();
    root.algorithm.oid = oid("1.3.101.113");
    root_malformed(root.parse_root());
    // Garbage and an actor certificate.
    root_malformed(parse_root_cert("garbage"));
    root_malformed(parse_root_cert(OPENSSL_ALICE));
    let (_, _, issued) = polyhome_issued();
    root_malformed(parse_root_cert(&issued.pem));
}

#[test]
fn a_root_must_be_self_signed() {
    // Issuer and subject differ.
    let mut root = CertBuilder::root();
    root.issuer = name(vec![single(DC, "other"), single(DC, "com")]);
    let message = root_malformed(root.parse_root());
    assert!(message.contains("not self-signed"), "{message}");
    // Same name, signed by another key.
    let mut root = CertBuilder::root();
    root.signer = signing_key();
    let message = root_malformed(root.parse_root());
    assert!(message.contains("self-signature"), "{message}");
    // A flipped signature bit, and a malleated or lax-only signature.
    let root = CertBuilder::root();
    let mut der = root.der();
    *der.last_mut().unwrap() ^= 1;
    root_malformed(parse_root_cert(&pem("CERTIFICATE", &der)));
    let tbs = root.tbs().to_der().unwrap();
    let honest = root.signer.sign(&tbs).to_bytes();
    for signature in [
        malleate(&honest),
        small_order_r_signature(&root.signer, &tbs),
    ] {
        let der = root.der_with_signature(&signature);
        root_malformed(parse_root_cert(&pem("CERTIFICATE", &der)));
    }
    parse_root_cert(&pem("CERTIFICATE", &root.der_with_signature(&honest))).unwrap();
    // The same name in another string type is not the same name.
    let mut root = CertBuilder::root();
    root.issuer = name(vec![
        rdn(vec![atv_as(DC, "example", Str::Utf8)]),
        rdn(vec![atv_as(DC, "com", Str::Utf8)]),
    ]);
    let message = root_malformed(root.parse_root());
    assert!(message.contains("not self-signed"), "{message}");
}

// --- Challenge signatures -----------------------------------------------------------------------

#[test]
fn challenge_signatures_verify_strictly_under_the_cert_key() {
    let root = CertBuilder::root();
    let actor = CertBuilder::actor(&root);
    let cert = actor.parse().unwrap();
    let challenge = b"nJm5Uq3bZkT0wXv8aP2sLr7yHc4eGd1fQi6oB9tA";
    let good = actor.subject_key.sign(challenge).to_bytes();
    cert.verify_signature(challenge, &good).unwrap();

    let invalid = |message: &[u8], signature: &[u8]| {
        let err = cert.verify_signature(message, signature).unwrap_err();
        assert_eq!(err, ForeignCertError::ChallengeSignatureInvalid);
        assert_eq!(err.code(), ErrorCode::ChallengeSignatureInvalid);
    };
    // Another key: a fresh one, the home server's.
    invalid(challenge, &signing_key().sign(challenge).to_bytes());
    invalid(challenge, &root.signer.sign(challenge).to_bytes());
    // Another message.
    invalid(b"nJm5Uq3bZkT0wXv8aP2sLr7yHc4eGd1fQi6oB9tB", &good);
    invalid(b"", &good);
    // Not 64 octets.
    invalid(challenge, &good[..63]);
    invalid(challenge, &[&good[..], &[0]].concat());
    invalid(challenge, &[]);
    // Malleable: S + L (non-canonical S), and a small-order R only a lax verifier accepts.
    invalid(challenge, &malleate(&good));
    let lax = small_order_r_signature(&actor.subject_key, challenge);
    let key = actor.subject_key.verifying_key();
    assert!(ed25519_dalek::Verifier::verify(
        &key,
        challenge,
        &ed25519_dalek::Signature::from_bytes(&lax)
    )
    .is_ok());
    invalid(challenge, &lax);
    // A flipped bit.
    let mut flipped = good;
    flipped[10] ^= 4;
    invalid(challenge, &flipped);
}

// --- Robustness ---------------------------------------------------------------------------------

#[test]
fn garbage_is_malformed() {
    for (input, needle) in [
        ("", "empty"),
        ("   \r\n", "empty"),
        ("hello, world", "base64"),
        (
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",
            "no data",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n",
            "does not end with",
        ),
        ("MAMCAQU=", "not a DER-encoded X.509 certificate"),
        (ED25519_CSR, "PEM label"),
    ] {
        let message = malformed(parse_actor_cert(input));
        assert!(message.contains(needle), "{input:?}: {message}");
        root_malformed(parse_root_cert(input));
    }
    // A CSR relabelled as a certificate is recognised.
    let relabelled = ED25519_CSR.replace("CERTIFICATE REQUEST", "CERTIFICATE");
    let message = malformed(parse_actor_cert(&relabelled));
    assert!(message.contains("certificate signing request"), "{message}");
    // Too long.
    let long = "A".repeat(64 * 1024 + 1);
    let message = malformed(parse_actor_cert(&long));
    assert!(message.contains("longer than"), "{message}");
    // Trailing data after the certificate.
    let (_, _, issued) = polyhome_issued();
    let mut der = issued.der.clone();
    der.push(0);
    malformed(parse_actor_cert(&pem("CERTIFICATE", &der)));
}

#[test]
fn no_input_makes_it_panic() {
    let mut rng = rand::thread_rng();
    let (server, _, issued) = polyhome_issued();
    let root = parse_root_cert(server.cert_pem()).unwrap();
    let check = |bytes: &[u8]| {
        let text = pem("CERTIFICATE", bytes);
        if let Ok(cert) = parse_actor_cert(&text) {
            let _ = cert.check_domains();
            let _ = cert.check_validity(NOW);
            let _ = cert.verify_issued_by(&root);
            let _ = cert.verify_signature(b"x", &[0; 64]);
            let _ = cert.pem();
        }
        let _ = parse_root_cert(&text);
    };
    for der in [issued.der.clone(), server.cert_der().to_vec()] {
        for len in 0..der.len() {
            check(&der[..len]);
        }
        for index in 0..der.len() {
            for mask in [0x01, 0x80, 0xff, 0x7f] {
                let mut mutated = der.clone();
                mutated[index] ^= mask;
                check(&mutated);
            }
            let mut mutated = der.clone();
            mutated[index] = rng.gen();
            check(&mutated);
        }
        for _ in 0..1000 {
            let len = rng.gen_range(0..600);
            let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            check(&bytes);
            let mut spliced = der.clone();
            let at = rng.gen_range(0..spliced.len());
            spliced.splice(at..at, bytes.iter().copied().take(8));
            check(&spliced);
        }
    }
    let alphabet: Vec<char> = "ABCabc019+/=-_\r\n \t-----BEGIN CERTIFICATE-----é\u{0}"
        .chars()
        .collect();
    for _ in 0..2000 {
        let len = rng.gen_range(0..200);
        let text: String = (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        let _ = parse_actor_cert(&text);
        let _ = parse_root_cert(&text);
    }
}

#[test]
fn every_error_has_a_message_and_its_code() {
    let errors = [
        (
            ForeignCertError::Malformed("x".into()),
            ErrorCode::IdCertMalformed,
        ),
        (
            ForeignCertError::OutsideValidity {
                now: 3,
                not_before: 1,
                not_after: 2,
            },
            ErrorCode::IdCertOutsideValidity,
        ),
        (
            ForeignCertError::DomainMismatch {
                issuer_domain: "a.b".parse().unwrap(),
                uid_domain: "c.d".parse().unwrap(),
                subject_domain: "c.d".parse().unwrap(),
            },
            ErrorCode::IdCertDomainMismatch,
        ),
        (
            ForeignCertError::NotSignedByHomeServer("x".into()),
            ErrorCode::IdCertNotSignedByHomeServer,
        ),
        (
            ForeignCertError::ChallengeSignatureInvalid,
            ErrorCode::ChallengeSignatureInvalid,
        ),
        (
            ForeignCertError::RootMalformed("x".into()),
            ErrorCode::HomeServerUnreachable,
        ),
    ];
    for (error, code) in errors {
        assert!(error.to_string().len() > 20, "{error:?}");
        assert_eq!(error.code(), code, "{error:?}");
    }
}
