//! The server identity: root ID-Cert structure, storage round trip, issuing.

use der::asn1::{AnyRef, Ia5StringRef};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::certificate::Version;
use x509_cert::time::Time;

use super::*;
use crate::CertError;

fn extension<'a>(cert: &'a Certificate, id: &str) -> Vec<&'a Extension> {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == oid(id))
        .collect()
}

#[test]
fn root_cert_has_the_id_cert_root_structure() {
    let server = identity();
    let cert = parse_cert(server.cert_der());
    let tbs = &cert.tbs_certificate;
    assert_eq!(tbs.version, Version::V3);
    assert_eq!(tbs.serial_number.as_bytes(), server.serial().as_bytes());
    assert_eq!(tbs.signature, ed25519_algorithm());
    assert_eq!(cert.signature_algorithm, ed25519_algorithm());

    // Subject: DC=example, DC=com, one RDN each, IA5String, no CN; issuer the same.
    assert_eq!(tbs.subject, tbs.issuer);
    let rdns = &tbs.subject.0;
    assert_eq!(rdns.len(), 2);
    for (rdn, label) in rdns.iter().zip(["example", "com"]) {
        let [atv] = rdn.0.as_slice() else {
            panic!("multi-valued RDN in the root subject")
        };
        assert_eq!(atv.oid, oid(DC));
        assert_eq!(atv.value.tag(), Tag::Ia5String);
        assert_eq!(
            atv.value.decode_as::<Ia5StringRef<'_>>().unwrap().as_str(),
            label
        );
    }
    assert_eq!(tbs.subject.to_string(), "DC=com,DC=example");

    // Exactly BasicConstraints CA:TRUE pathlen 0 and KeyUsage keyCertSign + cRLSign, critical.
    let extensions = tbs.extensions.as_ref().unwrap();
    assert_eq!(extensions.len(), 2);
    let bc = extension(&cert, "2.5.29.19");
    assert_eq!(bc.len(), 1);
    assert!(bc[0].critical);
    assert_eq!(
        bc[0].extn_value.as_bytes(),
        [0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00]
    );
    let ku = extension(&cert, "2.5.29.15");
    assert_eq!(ku.len(), 1);
    assert!(ku[0].critical);
    assert_eq!(ku[0].extn_value.as_bytes(), [0x03, 0x02, 0x01, 0x06]);

    // Key and signature.
    assert_eq!(
        tbs.subject_public_key_info.subject_public_key.raw_bytes(),
        server.public_key()
    );
    assert!(signature_verifies(server.cert_der(), server.public_key()));
    assert_eq!(server.not_before(), NOW - 3600);
    assert_eq!(server.not_after(), NOW + YEAR);
    assert!(matches!(tbs.validity.not_before, Time::UtcTime(_)));
}

#[test]
fn single_label_and_long_domains() {
    for (domain, labels) in [
        ("localhost", vec!["localhost"]),
        ("chat.eu.example.org", vec!["chat", "eu", "example", "org"]),
    ] {
        let server =
            ServerIdentity::generate(&domain.parse().unwrap(), Serial::random(), NOW, NOW + 10)
                .unwrap();
        let cert = parse_cert(server.cert_der());
        let got: Vec<String> = cert
            .tbs_certificate
            .subject
            .0
            .iter()
            .map(|rdn| {
                asn1::directory_string(&rdn.0.as_slice()[0].value)
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(got, labels);
    }
}

#[test]
fn pem_is_lf_armoured_der() {
    let server = identity();
    let pem = server.cert_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem.trim_end().ends_with("-----END CERTIFICATE-----"));
    assert!(!pem.contains('\r'));
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    assert_eq!(label, "CERTIFICATE");
    assert_eq!(der, server.cert_der());
}

#[test]
fn stored_identity_round_trips() {
    let server = identity();
    let restored = ServerIdentity::from_stored(server.pkcs8_der(), server.cert_der()).unwrap();
    assert_eq!(restored.cert_der(), server.cert_der());
    assert_eq!(restored.cert_pem(), server.cert_pem());
    assert_eq!(restored.pkcs8_der(), server.pkcs8_der());
    assert_eq!(restored.serial(), server.serial());
    assert_eq!(restored.not_before(), server.not_before());
    assert_eq!(restored.not_after(), server.not_after());
    assert_eq!(restored.public_key(), server.public_key());

    // The restored key signs certificates that verify under the original certificate's key.
    let csr = CsrBuilder::new().validate().unwrap();
    let issued = restored
        .issue(&csr, Serial::random(), NOW, NOW + 60)
        .unwrap();
    assert!(signature_verifies(&issued.der, server.public_key()));
    let issued_cert = parse_cert(&issued.der);
    assert_eq!(
        issued_cert.tbs_certificate.issuer.to_der().unwrap(),
        parse_cert(server.cert_der())
            .tbs_certificate
            .subject
            .to_der()
            .unwrap()
    );
}

#[test]
fn mismatched_or_broken_storage_is_refused() {
    let a = identity();
    let b = identity();
    assert_eq!(
        ServerIdentity::from_stored(a.pkcs8_der(), b.cert_der()).unwrap_err(),
        CertError::KeyMismatch
    );
    assert_eq!(
        ServerIdentity::from_stored(b.pkcs8_der(), a.cert_der()).unwrap_err(),
        CertError::KeyMismatch
    );
    assert_eq!(
        ServerIdentity::from_stored(b"not a key", a.cert_der()).unwrap_err(),
        CertError::InvalidPrivateKey
    );
    assert!(matches!(
        ServerIdentity::from_stored(a.pkcs8_der(), b"not a certificate"),
        Err(CertError::InvalidCertificate(_))
    ));
    // The certificate with a flipped signature bit.
    let mut tampered = a.cert_der().to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        ServerIdentity::from_stored(a.pkcs8_der(), &tampered),
        Err(CertError::InvalidCertificate(_))
    ));
    // An actor certificate is not a root.
    let csr = CsrBuilder::new().validate().unwrap();
    let issued = a.issue(&csr, Serial::random(), NOW, NOW + 60).unwrap();
    assert!(ServerIdentity::from_stored(a.pkcs8_der(), &issued.der).is_err());
}

#[test]
fn openssl_style_pkcs8_v1_is_read_too() {
    // `openssl genpkey -algorithm ed25519` writes PKCS #8 v1: the seed without the public key.
    let server = identity();
    let seed = &server.pkcs8_der()[16..48];
    let mut v1 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    v1.extend_from_slice(seed);
    let restored = ServerIdentity::from_stored(&v1, server.cert_der()).unwrap();
    assert_eq!(restored.public_key(), server.public_key());
}

#[test]
fn debug_and_errors_do_not_reveal_the_private_key() {
    let server = identity();
    let pkcs8 = server.pkcs8_der();
    let seed = &pkcs8[16..48];
    // Make sure the offset really is the seed: ring's v2 layout puts it there.
    assert_eq!(&pkcs8[14..16], [0x04, 0x20]);
    let debug = format!("{server:?} {server:#?}");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for needle in [
        hex(seed),
        hex(seed).to_uppercase(),
        format!("{seed:?}"),
        format!("{pkcs8:?}"),
        format!("{:?}", &seed[..8]),
    ] {
        assert!(
            !debug.contains(&needle),
            "Debug shows key material: {debug}"
        );
    }
    assert!(debug.contains("<redacted>"));
    assert!(debug.contains(&hex(server.public_key())));
    let other = identity();
    let error = ServerIdentity::from_stored(pkcs8, other.cert_der()).unwrap_err();
    assert!(!format!("{error} {error:?}").contains(&hex(seed)));
}

#[test]
fn generate_refuses_bad_validity() {
    assert_eq!(
        ServerIdentity::generate(&example_com(), Serial::random(), 10, 9).unwrap_err(),
        CertError::InvalidValidity {
            not_before: 10,
            not_after: 9
        }
    );
    assert_eq!(
        ServerIdentity::generate(&example_com(), Serial::random(), 0, u64::MAX).unwrap_err(),
        CertError::TimeOutOfRange(u64::MAX)
    );
    // A one-second validity is not empty: X.509 validity includes both ends.
    assert!(ServerIdentity::generate(&example_com(), Serial::random(), 5, 5).is_ok());
}

#[test]
fn issued_cert_has_the_actor_id_cert_structure() {
    let server = identity();
    let builder = CsrBuilder::new();
    let csr = builder.validate().unwrap();
    assert_eq!(csr.session_id.as_str(), "sess1");
    let serial = Serial::random();
    let issued = server.issue(&csr, serial.clone(), NOW, NOW + 3600).unwrap();
    assert_eq!(issued.serial, serial);
    assert_eq!((issued.not_before, issued.not_after), (NOW, NOW + 3600));
    let (label, der) = der::pem::decode_vec(issued.pem.as_bytes()).unwrap();
    assert_eq!(
        (label, der.as_slice()),
        ("CERTIFICATE", issued.der.as_slice())
    );
    assert!(!issued.pem.contains('\r'));

    let cert = parse_cert(&issued.der);
    let tbs = &cert.tbs_certificate;
    assert_eq!(tbs.version, Version::V3);
    assert_eq!(tbs.serial_number.as_bytes(), serial.as_bytes());
    assert_eq!(tbs.signature, ed25519_algorithm());
    assert_eq!(cert.signature_algorithm, ed25519_algorithm());
    assert!(tbs.issuer_unique_id.is_none() && tbs.subject_unique_id.is_none());

    // Issuer: the server certificate's subject, byte for byte. Subject: the CSR's.
    let server_subject = asn1::sequence_elements(&tbs_der(server.cert_der())).unwrap()[5].to_vec();
    let issued_tbs = tbs_der(&issued.der);
    let issued_parts = asn1::sequence_elements(&issued_tbs).unwrap();
    // [0] version, serial, signature, issuer, validity, subject, spki, [3] extensions
    assert_eq!(issued_parts[3], server_subject.as_slice());
    let csr_der = builder.der();
    let csr_info = asn1::sequence_elements(&csr_der).unwrap()[0].to_vec();
    let csr_subject = asn1::sequence_elements(&csr_info).unwrap()[1].to_vec();
    assert_eq!(issued_parts[5], csr_subject.as_slice());
    assert_eq!(csr.subject_der(), csr_subject.as_slice());

    // The CSR's key.
    assert_eq!(
        tbs.subject_public_key_info,
        ed25519_spki(&builder.key.verifying_key())
    );
    assert_eq!(csr.public_key(), builder.key.verifying_key().as_bytes());

    // Exactly BasicConstraints CA:FALSE and KeyUsage digitalSignature, both critical.
    let extensions = tbs.extensions.as_ref().unwrap();
    assert_eq!(extensions.len(), 2);
    let bc = extension(&cert, "2.5.29.19");
    assert!(bc.len() == 1 && bc[0].critical);
    assert_eq!(bc[0].extn_value.as_bytes(), [0x30, 0x00]);
    let ku = extension(&cert, "2.5.29.15");
    assert!(ku.len() == 1 && ku[0].critical);
    assert_eq!(ku[0].extn_value.as_bytes(), [0x03, 0x02, 0x07, 0x80]);

    // Signed by the server, strictly; not by anyone else.
    assert!(signature_verifies(&issued.der, server.public_key()));
    assert!(!signature_verifies(&issued.der, identity().public_key()));
    assert!(!signature_verifies(
        &issued.der,
        builder.key.verifying_key().as_bytes()
    ));
}

#[test]
fn issue_clamps_validity_into_the_server_certificate() {
    let server = ServerIdentity::generate(&example_com(), Serial::random(), 1000, 2000).unwrap();
    let csr = CsrBuilder::new().validate().unwrap();
    let window = |nb, na| {
        server.issue(&csr, Serial::random(), nb, na).map(|c| {
            let v = parse_cert(&c.der).tbs_certificate.validity;
            assert_eq!(
                (asn1::unix_time(v.not_before), asn1::unix_time(v.not_after)),
                (c.not_before, c.not_after)
            );
            (c.not_before, c.not_after)
        })
    };
    assert_eq!(window(500, 3000), Ok((1000, 2000)));
    assert_eq!(window(1200, 1800), Ok((1200, 1800)));
    assert_eq!(window(0, 1500), Ok((1000, 1500)));
    assert_eq!(window(1500, u64::MAX), Ok((1500, 2000)));
    assert_eq!(window(2000, 2000), Ok((2000, 2000)));
    assert!(matches!(
        window(2001, 3000),
        Err(CertError::EmptyValidity { .. })
    ));
    assert!(matches!(
        window(0, 999),
        Err(CertError::EmptyValidity { .. })
    ));
    assert!(matches!(
        window(1800, 1200),
        Err(CertError::InvalidValidity { .. })
    ));
}

#[test]
fn times_from_2050_on_are_generalized_time() {
    let from_2049 = 2_524_608_000 - 10 * 24 * 3600;
    let server =
        ServerIdentity::generate(&example_com(), Serial::random(), from_2049, 4_000_000_000)
            .unwrap();
    let root = parse_cert(server.cert_der()).tbs_certificate.validity;
    assert!(matches!(root.not_before, Time::UtcTime(_)));
    assert!(matches!(root.not_after, Time::GeneralTime(_)));
    let csr = CsrBuilder::new().validate().unwrap();
    let issued = server.issue(&csr, Serial::random(), 0, u64::MAX).unwrap();
    assert_eq!(
        (issued.not_before, issued.not_after),
        (from_2049, 4_000_000_000)
    );
    let validity = parse_cert(&issued.der).tbs_certificate.validity;
    assert!(matches!(validity.not_before, Time::UtcTime(_)));
    assert!(matches!(validity.not_after, Time::GeneralTime(_)));
    // The restored identity reads both kinds of time back.
    let restored = ServerIdentity::from_stored(server.pkcs8_der(), server.cert_der()).unwrap();
    assert_eq!(
        (restored.not_before(), restored.not_after()),
        (from_2049, 4_000_000_000)
    );
}

#[test]
fn issued_serials_differ() {
    let server = identity();
    let csr = CsrBuilder::new().validate().unwrap();
    let a = server.issue(&csr, Serial::random(), NOW, NOW + 60).unwrap();
    let b = server.issue(&csr, Serial::random(), NOW, NOW + 60).unwrap();
    assert_ne!(a.serial, b.serial);
    assert_ne!(
        parse_cert(&a.der).tbs_certificate.serial_number,
        parse_cert(&b.der).tbs_certificate.serial_number
    );
    // A serial that needs a sign octet is written as a positive INTEGER.
    let high = Serial::from_hex("ff01").unwrap();
    let c = server.issue(&csr, high.clone(), NOW, NOW + 60).unwrap();
    let c_tbs = tbs_der(&c.der);
    let parts = asn1::sequence_elements(&c_tbs).unwrap();
    assert_eq!(parts[1], [0x02, 0x03, 0x00, 0xff, 0x01]);
    assert_eq!(c.serial, high);
}

#[test]
fn issued_key_usage_is_the_requested_signing_bits() {
    let server = identity();
    let ku_of = |bits: u16| {
        let csr = CsrBuilder::new()
            .attributes(vec![extension_request(vec![ku_extension(bits)])])
            .validate()
            .unwrap();
        let issued = server.issue(&csr, Serial::random(), NOW, NOW + 60).unwrap();
        let cert = parse_cert(&issued.der);
        let ext = extension(&cert, "2.5.29.15")[0]
            .extn_value
            .as_bytes()
            .to_vec();
        let bits = AnyRef::from_der(&ext).unwrap();
        (
            asn1::decode_key_usage(bits.value()).unwrap(),
            csr.key_usage(),
        )
    };
    assert_eq!(
        ku_of(ku::DIGITAL_SIGNATURE),
        (ku::DIGITAL_SIGNATURE, vec!["digitalSignature"])
    );
    assert_eq!(
        ku_of(ku::CONTENT_COMMITMENT),
        (ku::CONTENT_COMMITMENT, vec!["contentCommitment"])
    );
    assert_eq!(
        ku_of(ku::DIGITAL_SIGNATURE | ku::CONTENT_COMMITMENT).0,
        ku::DIGITAL_SIGNATURE | ku::CONTENT_COMMITMENT
    );
    // Bits that cannot apply to an actor's Ed25519 key are not copied.
    assert_eq!(
        ku_of(ku::DIGITAL_SIGNATURE | 1 << 2 | 1 << 4 | ku::CRL_SIGN | ku::DECIPHER_ONLY).0,
        ku::DIGITAL_SIGNATURE
    );
}
