//! Interoperability with the polyproto crate, version 0.8.0 (May 2024): CSRs it writes are read,
//! and the certificates issued are read back by it.

use polyproto::certs::capabilities::{Capabilities, KeyUsage, KeyUsages};
use polyproto::certs::idcert::IdCert;
use polyproto::certs::idcerttbs::IdCertTbs;
use polyproto::certs::idcsr::IdCsr;

use super::*;

// polyproto is generic over the signature scheme; the e2e suite's adapters wrap ed25519-dalek
// for it.
#[path = "../../../../tests/support/polyproto_keys.rs"]
mod polyproto_keys;
use polyproto_keys::{Ed25519PrivateKey, Ed25519PublicKey, Ed25519Signature};

type PolyCert = IdCert<Ed25519Signature, Ed25519PublicKey>;
type PolyTbs = IdCertTbs<Ed25519Signature, Ed25519PublicKey>;

/// x509-cert reads RFC 4514 strings most-significant RDN last, so this string gives the DER
/// order DC=example, DC=com, CN=alice, UID, uniqueIdentifier: the DCs first, which polyproto
/// 0.8.0's issuer/subject comparison needs (see `polyproto_compares_domain_components_by_position`).
const POLYPROTO_SUBJECT: &str =
    "uniqueIdentifier=sess1,UID=alice@example.com,CN=alice,DC=com,DC=example";

fn polyproto_csr(subject: &str, capabilities: &Capabilities) -> (Vec<u8>, Ed25519PrivateKey) {
    let key = Ed25519PrivateKey::generate();
    let csr = IdCsr::<Ed25519Signature, Ed25519PublicKey>::new(
        &name_from_str(subject),
        &key,
        capabilities,
    )
    .unwrap();
    (csr.to_der().unwrap(), key)
}

fn attribute_types(name: &Name) -> Vec<ObjectIdentifier> {
    name.0.iter().map(|rdn| rdn.0.as_slice()[0].oid).collect()
}

#[test]
fn polyproto_csr_is_accepted_and_its_id_cert_passes_polyproto() {
    let (der, key) = polyproto_csr(POLYPROTO_SUBJECT, &Capabilities::default_actor());
    // How polyproto 0.8.0 writes the capabilities: not an extensionRequest but plain attributes,
    // keyUsage 03 02 00 80 (digitalSignature with an unused-bits count of 0) and
    // basicConstraints 30 03 01 01 00 (CA FALSE written out).
    let req = CertReq::from_der(&der).unwrap();
    let attributes: Vec<(ObjectIdentifier, Vec<u8>)> = req
        .info
        .attributes
        .iter()
        .map(|a| (a.oid, a.values.as_slice()[0].to_der().unwrap()))
        .collect();
    assert_eq!(
        attributes,
        [
            (asn1::KEY_USAGE, vec![0x03, 0x02, 0x00, 0x80]),
            (asn1::BASIC_CONSTRAINTS, vec![0x30, 0x03, 0x01, 0x01, 0x00]),
        ]
    );
    assert_eq!(
        attribute_types(&req.info.subject),
        [oid(DC), oid(DC), oid(CN), oid(UID), oid(UNIQUE_ID)]
    );

    let csr = validate_der(&der).unwrap();
    assert_eq!(csr.session_id.as_str(), "sess1");
    assert_eq!(csr.key_usage(), ["digitalSignature"]);
    assert_eq!(csr.public_key(), key.public.0.as_bytes());

    let server = identity();
    let issued = server
        .issue(&csr, Serial::random(), NOW, NOW + 3600)
        .unwrap();

    // polyproto reads the TBS certificate: subject, key and capabilities.
    let tbs = PolyTbs::from_der(&tbs_der(&issued.der)).unwrap();
    assert_eq!(tbs.subject, req.info.subject);
    assert_eq!(
        tbs.issuer,
        parse_cert(server.cert_der()).tbs_certificate.subject
    );
    assert_eq!(tbs.subject_public_key_info, key.public);
    assert!(!tbs.capabilities.basic_constraints.ca);
    assert_eq!(
        tbs.capabilities.key_usage,
        KeyUsages::new(&[KeyUsage::DigitalSignature])
    );
    assert_eq!(tbs.serial_number.as_bytes(), issued.serial.as_bytes());

    // IdCert::from_der runs polyproto's whole validation: capabilities, issuer and subject names,
    // equal domain components, and last the signature, which 0.8.0 checks with the certificate's
    // own (subject) key. An actor certificate is signed by the server, so exactly that last
    // check fails and nothing before it.
    let err = PolyCert::from_der(issued.der.clone()).unwrap_err();
    assert!(
        format!("{err:?}").contains("Provided signature does not match computed signature"),
        "{err:?}"
    );
    // The signature is the server's.
    assert!(signature_verifies(&issued.der, server.public_key()));
}

#[test]
fn root_cert_passes_polyproto_up_to_its_re_encoded_signature_check() {
    let server = identity();
    let tbs = PolyTbs::from_der(&tbs_der(server.cert_der())).unwrap();
    let capabilities = &tbs.capabilities;
    assert!(capabilities.basic_constraints.ca);
    assert_eq!(capabilities.basic_constraints.path_length, Some(0));
    assert!(capabilities
        .key_usage
        .key_usages
        .contains(&KeyUsage::KeyCertSign));
    assert_eq!(
        tbs.subject_public_key_info.0.as_bytes(),
        server.public_key()
    );
    // The root is self-signed, so polyproto's own-key signature check is the right check here,
    // yet it fails: polyproto verifies the signature over its *re-encoding* of the TBS
    // certificate, and re-encodes the extensions in its own non-DER way (see
    // `polyproto_re_encodes_extensions_in_its_own_way`). Every check before it passes.
    let err = PolyCert::from_der(server.cert_der().to_vec()).unwrap_err();
    assert!(
        format!("{err:?}").contains("Provided signature does not match computed signature"),
        "{err:?}"
    );
    assert!(signature_verifies(server.cert_der(), server.public_key()));
}

#[test]
fn polyproto_re_encodes_extensions_in_its_own_way() {
    let server = identity();
    let (der, _) = polyproto_csr(POLYPROTO_SUBJECT, &Capabilities::default_actor());
    let csr = validate_der(&der).unwrap();
    let issued = server.issue(&csr, Serial::random(), NOW, NOW + 60).unwrap();
    let extension_values = |tbs: &[u8]| -> Vec<(ObjectIdentifier, Vec<u8>)> {
        let tbs = x509_cert::TbsCertificate::from_der(tbs).unwrap();
        tbs.extensions
            .unwrap()
            .iter()
            .map(|e| (e.extn_id, e.extn_value.as_bytes().to_vec()))
            .collect()
    };
    for (cert, ours, polyprotos) in [
        (
            server.cert_der().to_vec(),
            // CA:TRUE pathlen 0; keyCertSign + cRLSign.
            [
                vec![0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00],
                vec![0x03, 0x02, 0x01, 0x06],
            ],
            // pathlen as eight octets; "unused bits" = leading zeros of the octet.
            [
                vec![
                    0x30, 0x0d, 0x01, 0x01, 0xff, 0x02, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
                vec![0x03, 0x02, 0x05, 0x06],
            ],
        ),
        (
            issued.der.clone(),
            // CA:FALSE (the DEFAULT, omitted); digitalSignature.
            [vec![0x30, 0x00], vec![0x03, 0x02, 0x07, 0x80]],
            // BOOLEAN FALSE written out; unused bits 0.
            [
                vec![0x30, 0x03, 0x01, 0x01, 0x00],
                vec![0x03, 0x02, 0x00, 0x80],
            ],
        ),
    ] {
        let original = tbs_der(&cert);
        let re_encoded = PolyTbs::from_der(&original).unwrap().to_der().unwrap();
        assert_ne!(re_encoded, original);
        let [bc, ku] = ours;
        assert_eq!(
            extension_values(&original),
            [(asn1::BASIC_CONSTRAINTS, bc), (asn1::KEY_USAGE, ku)]
        );
        let [bc, ku] = polyprotos;
        assert_eq!(
            extension_values(&re_encoded),
            [(asn1::BASIC_CONSTRAINTS, bc), (asn1::KEY_USAGE, ku)]
        );
        // Everything but the extensions survives polyproto's round trip unchanged.
        let mut original = x509_cert::TbsCertificate::from_der(&original).unwrap();
        let mut re_encoded = x509_cert::TbsCertificate::from_der(&re_encoded).unwrap();
        original.extensions = None;
        re_encoded.extensions = None;
        assert_eq!(original, re_encoded);
    }
}

#[test]
fn polyproto_content_commitment_csr_is_accepted() {
    let capabilities = Capabilities {
        key_usage: KeyUsages::new(&[KeyUsage::ContentCommitment]),
        ..Capabilities::default_actor()
    };
    let (der, _) = polyproto_csr(POLYPROTO_SUBJECT, &capabilities);
    // polyproto writes contentCommitment as 03 02 01 40.
    assert!(der.windows(4).any(|w| w == [0x03, 0x02, 0x01, 0x40]));
    let csr = validate_der(&der).unwrap();
    assert_eq!(csr.key_usage(), ["contentCommitment"]);
    let issued = identity()
        .issue(&csr, Serial::random(), NOW, NOW + 60)
        .unwrap();
    let tbs = PolyTbs::from_der(&tbs_der(&issued.der)).unwrap();
    assert_eq!(
        tbs.capabilities.key_usage,
        KeyUsages::new(&[KeyUsage::ContentCommitment])
    );
}

#[test]
fn polyproto_subject_strings_are_in_reverse_der_order() {
    // Written in the order one reads the subject, the string puts DC=com before DC=example in
    // DER, which is not example.com.
    let (der, _) = polyproto_csr(
        "CN=alice,DC=example,DC=com,UID=alice@example.com,uniqueIdentifier=sess1",
        &Capabilities::default_actor(),
    );
    let req = CertReq::from_der(&der).unwrap();
    assert_eq!(
        attribute_types(&req.info.subject),
        [oid(UNIQUE_ID), oid(UID), oid(DC), oid(DC), oid(CN)]
    );
    assert_eq!(refusal(validate_der(&der)).0, ErrorCode::CsrDomainMismatch);
}

#[test]
fn polyproto_compares_domain_components_by_position() {
    // The OpenSSL order, CN first, is a valid ID-CSR and is accepted...
    let (der, _) = polyproto_csr(
        "uniqueIdentifier=sess1,UID=alice@example.com,DC=com,DC=example,CN=alice",
        &Capabilities::default_actor(),
    );
    let req = CertReq::from_der(&der).unwrap();
    assert_eq!(
        attribute_types(&req.info.subject),
        [oid(CN), oid(DC), oid(DC), oid(UID), oid(UNIQUE_ID)]
    );
    let csr = validate_der(&der).unwrap();
    let issued = identity()
        .issue(&csr, Serial::random(), NOW, NOW + 60)
        .unwrap();
    // ...but polyproto 0.8.0's `equal_domain_components` zips the issuer's and subject's RDNs
    // and collects DCs only from the pairs, so with the root's two DC RDNs it compares
    // [example, com] against the subject's first two RDNs, [CN, DC=example]. polyproto refuses
    // the certificate before it reaches the signature. This is polyproto's bug, documented here.
    let err = PolyCert::from_der(issued.der).unwrap_err();
    assert!(
        format!("{err:?}").contains("Domain components of issuer and subject are not equal"),
        "{err:?}"
    );
}

#[test]
fn polyproto_cannot_read_its_own_csrs() {
    // polyproto 0.8.0's `KeyUsages: TryFrom<Attribute>` compares the tag of the Attribute
    // (always SEQUENCE) with BIT STRING, so IdCsr::from_der fails on every CSR it writes. This
    // is why polyhome reads the CSR attributes itself.
    let (der, _) = polyproto_csr(POLYPROTO_SUBJECT, &Capabilities::default_actor());
    assert!(IdCsr::<Ed25519Signature, Ed25519PublicKey>::from_der(&der).is_err());
    validate_der(&der).unwrap();
}

/// A root certificate made by polyproto 0.8.0's `IdCert::from_ca_csr` for example.com, with
/// the given capabilities.
fn polyproto_root(capabilities: &Capabilities) -> Result<Vec<u8>, String> {
    let key = Ed25519PrivateKey::generate();
    let subject = name_from_str("DC=com,DC=example");
    let csr = IdCsr::<Ed25519Signature, Ed25519PublicKey>::new(&subject, &key, capabilities)
        .map_err(|e| format!("{e:?}"))?;
    let validity = x509_cert::time::Validity {
        not_before: asn1::x509_time(NOW - 60).unwrap(),
        not_after: asn1::x509_time(NOW + YEAR).unwrap(),
    };
    let cert = PolyCert::from_ca_csr(
        csr,
        &key,
        der::asn1::Uint::new(&[0x2a]).unwrap(),
        subject,
        validity,
    )
    .map_err(|e| format!("{e:?}"))?;
    cert.to_der().map_err(|e| format!("{e:?}"))
}

#[test]
fn polyproto_made_roots_are_read_with_its_extension_encodings() {
    use polyproto::certs::capabilities::BasicConstraints;

    // polyproto signs its own re-encoding, so its roots are self-consistent: eight-octet path
    // length, leading-zero "unused bits" in the key usage.
    let capabilities = Capabilities {
        basic_constraints: BasicConstraints {
            ca: true,
            path_length: Some(0),
        },
        ..Capabilities::default_home_server()
    };
    let der = polyproto_root(&capabilities).unwrap();
    let extensions: Vec<Vec<u8>> = parse_cert(&der)
        .tbs_certificate
        .extensions
        .unwrap()
        .iter()
        .map(|e| e.extn_value.as_bytes().to_vec())
        .collect();
    assert!(
        extensions.contains(&vec![
            0x30, 0x0d, 0x01, 0x01, 0xff, 0x02, 0x08, 0, 0, 0, 0, 0, 0, 0, 0
        ]),
        "{extensions:02x?}"
    );
    let root = crate::parse_root_cert(&pem("CERTIFICATE", &der)).unwrap();
    assert_eq!(root.domain(), &example_com());

    // polyproto's own "sane default" for a home server has path length 1, which §7.1.1.2
    // does not allow a root.
    let der = polyproto_root(&Capabilities::default_home_server()).unwrap();
    let err = crate::parse_root_cert(&pem("CERTIFICATE", &der)).unwrap_err();
    assert!(err.to_string().contains("path length is 1"), "{err}");
}
