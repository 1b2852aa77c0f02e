//! ID-CSR decoding and every check of `validate`, on CSRs built in the test.

use der::asn1::Null;
use der::Tag;
use rand::Rng;

use super::*;
use crate::{names, parse_csr};

fn code(result: Result<ValidatedCsr, CsrError>) -> ErrorCode {
    refusal(result).0
}

fn with_subject(rdns: Vec<RelativeDistinguishedName>) -> Result<ValidatedCsr, CsrError> {
    CsrBuilder::new().subject(rdns).validate()
}

fn with_attributes(attributes: Vec<Attribute>) -> Result<ValidatedCsr, CsrError> {
    CsrBuilder::new().attributes(attributes).validate()
}

/// alice's subject with the RDNs of one attribute type replaced by `replacement`, in place of
/// the first one.
fn replace(
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

// --- Accepted ---------------------------------------------------------------------------------

#[test]
fn a_well_formed_csr_is_accepted() {
    let builder = CsrBuilder::new();
    let csr = parse_csr(&builder.pem())
        .unwrap()
        .validate(&alice())
        .unwrap();
    assert_eq!(csr.session_id.as_str(), "sess1");
    assert_eq!(csr.public_key(), builder.key.verifying_key().as_bytes());
    assert_eq!(csr.key_usage(), ["digitalSignature"]);
}

#[test]
fn text_forms_are_accepted() {
    let builder = CsrBuilder::new();
    let der = builder.der();
    let pem = builder.pem();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
    let b64_url = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &der);
    let wrapped: String = b64
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    for text in [
        pem.clone(),
        pem.replace('\n', "\r\n"),
        format!("\n\n   {pem}  \r\n\t"),
        pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
        // Lines of another width.
        pem.replace('\n', "")
            .replace(
                "-----BEGIN CERTIFICATE REQUEST-----",
                "-----BEGIN CERTIFICATE REQUEST-----\n",
            )
            .replace("-----END", "\n-----END"),
        b64.clone(),
        format!("  {b64}\n"),
        wrapped,
        b64.trim_end_matches('=').to_owned(),
        b64_url,
    ] {
        let parsed = parse_csr(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(parsed.validate(&alice()).is_ok(), "{text:?}");
    }
}

#[test]
fn names_compare_case_insensitively_and_cn_may_be_the_federation_id() {
    for rdns in [
        replace(CN, vec![single(CN, "alice@example.com")]),
        replace(CN, vec![single(CN, "ALICE")]),
        replace(CN, vec![single(CN, "Alice@Example.COM")]),
        replace(DC, vec![single(DC, "EXAMPLE"), single(DC, "Com")]),
        replace(UID, vec![single(UID, "ALICE@example.com")]),
    ] {
        with_subject(rdns).unwrap();
    }
    // The actor may be given in any case too.
    let upper: FederationId = "ALICE@EXAMPLE.COM".parse().unwrap();
    parse_csr_der(&CsrBuilder::new().der())
        .unwrap()
        .validate(&upper)
        .unwrap();
}

#[test]
fn all_three_string_types_are_read() {
    for kind in [Str::Utf8, Str::Printable, Str::Ia5] {
        let rdns = vec![
            rdn(vec![atv_as(CN, "alice", kind)]),
            rdn(vec![atv_as(DC, "example", kind)]),
            rdn(vec![atv_as(DC, "com", kind)]),
            // PrintableString has no '@'.
            rdn(vec![atv_as(
                UID,
                "alice@example.com",
                if matches!(kind, Str::Printable) {
                    Str::Utf8
                } else {
                    kind
                },
            )]),
            rdn(vec![atv_as(UNIQUE_ID, "sess1", kind)]),
        ];
        let csr = with_subject(rdns).unwrap();
        assert_eq!(csr.session_id.as_str(), "sess1");
    }
}

#[test]
fn multi_valued_rdns_are_read() {
    // CN+UID in one RDN, DCs in another order of RDNs but still example before com.
    let rdns = vec![
        rdn(vec![atv(CN, "alice"), atv(UID, "alice@example.com")]),
        single(DC, "example"),
        rdn(vec![atv(DC, "com"), atv(UNIQUE_ID, "sess1")]),
    ];
    with_subject(rdns).unwrap();
    // Two CNs hidden in one RDN are still two.
    let rdns = replace(
        CN,
        vec![rdn(vec![atv(CN, "alice"), atv_as(CN, "alice", Str::Ia5)])],
    );
    assert_eq!(code(with_subject(rdns)), ErrorCode::CsrCommonNameMismatch);
}

#[test]
fn other_subject_attributes_are_allowed() {
    let mut rdns = alice_rdns();
    rdns.insert(0, single("2.5.4.6", "CH"));
    rdns.push(single("2.5.4.11", "devices"));
    with_subject(rdns).unwrap();
}

#[test]
fn every_subject_attribute_must_be_well_formed() {
    // The ID-Cert repeats the whole subject under the server's signature, so attributes that
    // polyproto gives no meaning to must still be what their types say.
    let raw = |attribute: &str, tag: Tag, bytes: &[u8]| AttributeTypeAndValue {
        oid: oid(attribute),
        value: Any::new(tag, bytes).unwrap(),
    };
    let with_extra = |extra: RelativeDistinguishedName| {
        let mut rdns = alice_rdns();
        rdns.push(extra);
        with_subject(rdns)
    };
    const O: &str = "2.5.4.10";
    // Accepted: BMPString, a value that is no string at all, every PrintableString character.
    with_extra(rdn(vec![atv_as(O, "Zürich ☃", Str::Bmp)])).unwrap();
    with_extra(rdn(vec![raw(O, Tag::OctetString, b"\x00\xff")])).unwrap();
    with_extra(rdn(vec![atv_as(O, "Az09 '()+,-./:=?", Str::Printable)])).unwrap();

    let refused = [
        (
            "UTF8String that is not UTF-8",
            raw(O, Tag::Utf8String, b"caf\xe9"),
        ),
        (
            "PrintableString with '@'",
            raw(O, Tag::PrintableString, b"a@b"),
        ),
        (
            "IA5String with a high octet",
            raw(O, Tag::Ia5String, b"\x80"),
        ),
        (
            "VisibleString with a control",
            raw(O, Tag::VisibleString, b"a\nb"),
        ),
        (
            "NumericString with a letter",
            raw(O, Tag::NumericString, b"12a"),
        ),
        (
            "BMPString of odd length",
            raw(O, Tag::BmpString, b"\x00a\x00"),
        ),
        (
            "BMPString with a lone surrogate",
            raw(O, Tag::BmpString, b"\xd8\x00"),
        ),
        ("empty UTF8String", raw(O, Tag::Utf8String, b"")),
        ("empty PrintableString", raw(O, Tag::PrintableString, b"")),
    ];
    for (why, value) in refused {
        let (code, message) = refusal(with_extra(rdn(vec![value])));
        assert_eq!(code, ErrorCode::CsrMalformed, "{why}: {message}");
        assert!(message.contains("subject attribute"), "{why}: {message}");
    }

    // polyproto's own attributes keep their own error codes.
    let rdns = replace(CN, vec![rdn(vec![raw(CN, Tag::Utf8String, b"\xff")])]);
    assert_eq!(code(with_subject(rdns)), ErrorCode::CsrCommonNameMismatch);

    // An RDN with no attribute at all.
    let (code, message) = refusal(with_extra(RelativeDistinguishedName(SetOfVec::new())));
    assert_eq!(code, ErrorCode::CsrMalformed, "{message}");
    assert!(message.contains("empty"), "{message}");

    // A subject far larger than any polyproto name needs.
    let long = "x".repeat(names::MAX_SUBJECT_DER_LEN);
    let (code, message) = refusal(with_extra(rdn(vec![atv("2.5.4.11", &long)])));
    assert_eq!(code, ErrorCode::CsrMalformed, "{message}");
    assert!(message.contains("octets"), "{message}");
    // Just under the limit is fine.
    let fits = "x".repeat(names::MAX_SUBJECT_DER_LEN - 300);
    with_extra(rdn(vec![atv("2.5.4.11", &fits)])).unwrap();
}

#[test]
fn session_ids_of_1_and_32_characters_are_accepted() {
    for id in ["x", "~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|", &"a".repeat(32)] {
        let csr = with_subject(replace(
            UNIQUE_ID,
            vec![rdn(vec![atv_as(UNIQUE_ID, id, Str::Ia5)])],
        ))
        .unwrap();
        assert_eq!(csr.session_id.as_str(), id);
    }
}

#[test]
fn polyproto_style_capability_attributes_are_read() {
    // As polyproto 0.8.0 writes them: keyUsage BIT STRING with "unused bits" 0, and
    // basicConstraints SEQUENCE { BOOLEAN FALSE } as plain attributes.
    let attributes = vec![
        plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x00, 0x80]),
        plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x30, 0x03, 0x01, 0x01, 0x00]),
    ];
    assert_eq!(
        with_attributes(attributes).unwrap().key_usage(),
        ["digitalSignature"]
    );
    // contentCommitment alone: polyproto writes 01 40.
    let attributes = vec![plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x01, 0x40])];
    assert_eq!(
        with_attributes(attributes).unwrap().key_usage(),
        ["contentCommitment"]
    );
}

#[test]
fn unrelated_attributes_and_extensions_are_ignored() {
    let challenge = Attribute {
        oid: oid("1.2.840.113549.1.9.7"),
        values: SetOfVec::try_from(vec![
            Any::encode_from(&Utf8StringRef::new("pw").unwrap()).unwrap()
        ])
        .unwrap(),
    };
    let san = Extension {
        extn_id: oid("2.5.29.17"),
        critical: false,
        extn_value: OctetString::new(vec![0x30, 0x00]).unwrap(),
    };
    let attributes = vec![
        challenge,
        extension_request(vec![ku_extension(ku::DIGITAL_SIGNATURE), san]),
    ];
    with_attributes(attributes).unwrap();
}

// --- 1. Not decodable -------------------------------------------------------------------------

#[test]
fn undecodable_input_is_malformed() {
    let good = CsrBuilder::new();
    let der = good.der();
    let mut trailing = der.clone();
    trailing.push(0);
    let b64 =
        |bytes: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("   \r\n ".into(), "whitespace"),
        ("hello world, this is not a CSR".into(), "prose"),
        ("!!!!".into(), "not base64"),
        (b64(b"garbage bytes that are not DER"), "garbage DER"),
        (b64(&[0x30, 0x03, 0x02, 0x01]), "truncated DER"),
        (b64(&der[..der.len() - 1]), "truncated CSR"),
        (b64(&trailing), "trailing bytes"),
        (
            pem("CERTIFICATE REQUEST", &trailing),
            "trailing bytes in PEM",
        ),
        (pem("CERTIFICATE REQUEST", b"garbage"), "garbage in PEM"),
        (
            "-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----".into(),
            "bad PEM body",
        ),
        (
            "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----".into(),
            "empty PEM",
        ),
        (
            good.pem().replace("-----END CERTIFICATE REQUEST-----", ""),
            "no END",
        ),
        (
            good.pem().replace(
                "-----END CERTIFICATE REQUEST-----",
                "-----END CERTIFICATE-----",
            ),
            "END label differs",
        ),
        (format!("{}{}", good.pem(), good.pem()), "two PEM blocks"),
        (format!("{} trailing text", good.pem()), "text after PEM"),
        (
            "-----BEGIN CERTIFICATE REQUEST".into(),
            "unterminated BEGIN",
        ),
        ("A".repeat(70_000), "too long"),
    ];
    for (text, why) in cases {
        let (code, message) = refusal(parse_csr(&text));
        assert_eq!(code, ErrorCode::CsrMalformed, "{why}: {message}");
    }
}

#[test]
fn wrong_pem_labels_are_malformed() {
    let der = CsrBuilder::new().der();
    for label in [
        "CERTIFICATE",
        "PRIVATE KEY",
        "X509 CRL",
        "certificate request",
        "",
    ] {
        let text = pem("CERTIFICATE REQUEST", &der).replace("CERTIFICATE REQUEST", label);
        let err = parse_csr(&text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::CsrMalformed);
        assert!(
            matches!(err, CsrError::WrongPemLabel { .. }),
            "{label}: {err}"
        );
    }
}

#[test]
fn a_certificate_is_not_a_csr() {
    let server = identity();
    for text in [
        server.cert_pem().to_owned(),
        server
            .cert_pem()
            .replace("CERTIFICATE", "CERTIFICATE REQUEST"),
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            server.cert_der(),
        ),
    ] {
        let err = parse_csr(&text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::CsrMalformed);
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{err}"
        );
    }
    let err = parse_csr_der(server.cert_der()).unwrap_err();
    assert_eq!(err, CsrError::IsCertificate);
    assert!(err.to_string().contains("not a PKCS #10"));
}

#[test]
fn versions_other_than_0_are_malformed() {
    let builder = CsrBuilder::new();
    let info = builder.info().to_der().unwrap();
    let parts = asn1::sequence_elements(&info).unwrap();
    assert_eq!(parts[0], [0x02, 0x01, 0x00]);
    for version in [
        &[0x02, 0x01, 0x01][..],
        &[0x02, 0x01, 0x02],
        &[0x02, 0x01, 0xff],
    ] {
        let mut content = version.to_vec();
        for part in &parts[1..] {
            content.extend_from_slice(part);
        }
        let der = sign_raw_info(&tlv(0x30, &content), &builder.key);
        let err = parse_csr_der(&der).unwrap_err();
        assert_eq!(err.code(), ErrorCode::CsrMalformed);
        assert!(matches!(err, CsrError::UnsupportedVersion(_)), "{err}");
    }
}

#[test]
fn a_subject_not_in_der_order_is_malformed() {
    // A multi-valued RDN whose two values are not sorted: a BER, not DER, encoding. Decoding
    // would silently sort it and the ID-Cert would not carry the signed bytes.
    let builder = CsrBuilder::new();
    let cn = atv(CN, "alice").to_der().unwrap();
    let uid = atv(UID, "alice@example.com").to_der().unwrap();
    assert!(cn < uid);
    let unsorted_rdn = tlv(0x31, &[uid.clone(), cn.clone()].concat());
    let sorted_rdn = tlv(0x31, &[cn, uid].concat());
    let rest: Vec<u8> = [
        single(DC, "example").to_der().unwrap(),
        single(DC, "com").to_der().unwrap(),
        single(UNIQUE_ID, "sess1").to_der().unwrap(),
    ]
    .concat();
    let info = |rdn: &[u8]| {
        let subject = tlv(0x30, &[rdn, &rest].concat());
        let spki = ed25519_spki(&builder.key.verifying_key()).to_der().unwrap();
        let attributes = SetOfVec::try_from(default_attributes())
            .unwrap()
            .to_der()
            .unwrap();
        // [0] IMPLICIT: same content, context tag 0 constructed.
        let attributes = tlv(0xa0, &attributes[2..]);
        tlv(
            0x30,
            &[&[0x02, 0x01, 0x00][..], &subject, &spki, &attributes].concat(),
        )
    };
    validate_der(&sign_raw_info(&info(&sorted_rdn), &builder.key)).unwrap();
    let (code, message) = refusal(validate_der(&sign_raw_info(
        &info(&unsorted_rdn),
        &builder.key,
    )));
    assert_eq!(code, ErrorCode::CsrMalformed, "{message}");
}

#[test]
fn duplicate_or_broken_capabilities_are_malformed() {
    let ku_attr = plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x07, 0x80]);
    let bc_attr = plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x30, 0x00]);
    let cases: Vec<(Vec<Attribute>, &str)> = vec![
        (
            vec![
                extension_request(vec![ku_extension(ku::DIGITAL_SIGNATURE)]),
                ku_attr.clone(),
            ],
            "key usage in both styles",
        ),
        (
            vec![
                extension_request(vec![bc_extension(false)]),
                bc_attr.clone(),
                ku_attr.clone(),
            ],
            "basic constraints in both styles",
        ),
        (
            vec![extension_request(vec![
                ku_extension(ku::DIGITAL_SIGNATURE),
                ku_extension(ku::CONTENT_COMMITMENT),
            ])],
            "two key usage extensions",
        ),
        (
            vec![extension_request(vec![
                ku_extension(ku::DIGITAL_SIGNATURE),
                bc_extension(false),
                bc_extension(true),
            ])],
            "two basic constraints extensions",
        ),
        (
            vec![Attribute {
                oid: asn1::KEY_USAGE,
                values: SetOfVec::try_from(vec![
                    Any::from_der(&[0x03, 0x02, 0x07, 0x80]).unwrap(),
                    Any::from_der(&[0x03, 0x02, 0x06, 0x40]).unwrap(),
                ])
                .unwrap(),
            }],
            "key usage attribute with two values",
        ),
        (
            vec![plain_attribute(asn1::KEY_USAGE, &[0x04, 0x01, 0x80])],
            "key usage not a BIT STRING",
        ),
        (
            vec![plain_attribute(
                asn1::KEY_USAGE,
                &[0x03, 0x04, 0x00, 0x80, 0x80, 0x80],
            )],
            "key usage too long",
        ),
        (
            vec![
                ku_attr.clone(),
                plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x01, 0x01, 0x00]),
            ],
            "basic constraints not a SEQUENCE",
        ),
        (
            vec![
                ku_attr.clone(),
                plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x30, 0x03, 0x04, 0x01, 0x00]),
            ],
            "basic constraints holding an OCTET STRING",
        ),
        (
            vec![plain_attribute(
                asn1::EXTENSION_REQUEST,
                &[0x02, 0x01, 0x00],
            )],
            "extensionRequest not holding Extensions",
        ),
        (
            vec![Attribute {
                oid: asn1::EXTENSION_REQUEST,
                values: SetOfVec::try_from(vec![
                    Any::from_der(&vec![ku_extension(ku::DIGITAL_SIGNATURE)].to_der().unwrap())
                        .unwrap(),
                    Any::from_der(&vec![bc_extension(false)].to_der().unwrap()).unwrap(),
                ])
                .unwrap(),
            }],
            "extensionRequest with two values",
        ),
        (
            vec![extension_request(vec![Extension {
                extn_id: asn1::KEY_USAGE,
                critical: true,
                extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
            }])],
            "key usage extension holding NULL",
        ),
    ];
    for (attributes, why) in cases {
        let (code, message) = refusal(with_attributes(attributes));
        assert_eq!(code, ErrorCode::CsrMalformed, "{why}: {message}");
    }
}

// --- 2. Key algorithm -------------------------------------------------------------------------

#[test]
fn keys_other_than_ed25519_are_unsupported() {
    for (algorithm, key_len) in [
        ("1.3.101.113", 57),           // Ed448
        ("1.3.101.110", 32),           // X25519
        ("1.2.840.10045.2.1", 65),     // id-ecPublicKey
        ("1.2.840.113549.1.1.1", 270), // rsaEncryption
    ] {
        let mut builder = CsrBuilder::new();
        builder.spki = Some(SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: oid(algorithm),
                parameters: None,
            },
            subject_public_key: BitString::from_bytes(&vec![4; key_len]).unwrap(),
        });
        let err = builder.validate().unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::UnsupportedKeyAlgorithm,
            "{algorithm}"
        );
        assert!(
            err.to_string()
                .contains("only Ed25519 keys (OID 1.3.101.112) are accepted"),
            "{err}"
        );
        assert!(err.to_string().contains(algorithm), "{err}");
    }
}

#[test]
fn broken_ed25519_keys_are_unsupported() {
    let good = CsrBuilder::new().key.verifying_key();
    let spkis = [
        // Parameters present.
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: asn1::ED25519,
                parameters: Some(Any::encode_from(&Null).unwrap()),
            },
            subject_public_key: BitString::from_bytes(good.as_bytes()).unwrap(),
        },
        // 31 and 33 octets.
        SubjectPublicKeyInfoOwned {
            algorithm: ed25519_algorithm(),
            subject_public_key: BitString::from_bytes(&good.as_bytes()[..31]).unwrap(),
        },
        SubjectPublicKeyInfoOwned {
            algorithm: ed25519_algorithm(),
            subject_public_key: BitString::from_bytes(&[good.as_bytes(), &[0][..]].concat())
                .unwrap(),
        },
        // Unused bits in the key BIT STRING.
        SubjectPublicKeyInfoOwned {
            algorithm: ed25519_algorithm(),
            subject_public_key: BitString::new(1, good.as_bytes().to_vec()).unwrap(),
        },
        // Not a curve point (y = 2 has no x on edwards25519).
        SubjectPublicKeyInfoOwned {
            algorithm: ed25519_algorithm(),
            subject_public_key: BitString::from_bytes(&{
                let mut y = [0u8; 32];
                y[0] = 2;
                y
            })
            .unwrap(),
        },
    ];
    for spki in spkis {
        let mut builder = CsrBuilder::new();
        builder.spki = Some(spki.clone());
        let (code, message) = refusal(builder.validate());
        assert_eq!(
            code,
            ErrorCode::UnsupportedKeyAlgorithm,
            "{spki:?}: {message}"
        );
    }
}

#[test]
fn weak_keys_are_refused_before_the_signature_is_checked() {
    // Small-order points: the identity (0, 1), the point of order 2 (0, -1), and the canonical
    // encoding of an order-8 point.
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let order_8: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    for point in [identity_point, minus_one, order_8] {
        assert!(VerifyingKey::from_bytes(&point).unwrap().is_weak());
        let mut builder = CsrBuilder::new();
        builder.spki = Some(SubjectPublicKeyInfoOwned {
            algorithm: ed25519_algorithm(),
            subject_public_key: BitString::from_bytes(&point).unwrap(),
        });
        let info = builder.info().to_der().unwrap();
        // With the identity as key, R = identity and S = 0 satisfy the unreduced equation
        // [S]B = R + [k]A: only a strict verifier refuses it. Either way, the key is refused
        // first.
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let der = assemble(&info, &ed25519_algorithm(), &signature);
        let err = validate_der(&der).unwrap_err();
        assert_eq!(err, CsrError::WeakKey);
        assert_eq!(err.code(), ErrorCode::UnsupportedKeyAlgorithm);
        assert!(err
            .to_string()
            .contains("only Ed25519 keys (OID 1.3.101.112)"));
    }
}

// --- 3. Signature -----------------------------------------------------------------------------

#[test]
fn tampered_signatures_are_invalid() {
    let builder = CsrBuilder::new();
    let der = builder.der();
    // Flip each bit of the last signature octet, and one in the first.
    let signature_start = der.len() - 64;
    for (index, bit) in [(der.len() - 1, 0), (der.len() - 1, 7), (signature_start, 3)] {
        let mut tampered = der.clone();
        tampered[index] ^= 1 << bit;
        assert_eq!(
            code(validate_der(&tampered)),
            ErrorCode::CsrSignatureInvalid
        );
    }
    // Flip a bit of the signed info: the session ID "sess1" becomes "sess0".
    let at = der.windows(5).position(|w| w == b"sess1").unwrap();
    let mut tampered = der.clone();
    tampered[at + 4] ^= 1;
    assert_eq!(
        code(validate_der(&tampered)),
        ErrorCode::CsrSignatureInvalid
    );
    // Flip a bit of the key usage: digitalSignature becomes contentCommitment.
    let at = der
        .windows(4)
        .position(|w| w == [0x03, 0x02, 0x07, 0x80])
        .unwrap();
    let mut tampered = der.clone();
    tampered[at + 3] = 0x40;
    tampered[at + 2] = 0x06;
    assert_eq!(
        code(validate_der(&tampered)),
        ErrorCode::CsrSignatureInvalid
    );
    // Someone else's signature.
    let mut other = CsrBuilder::new();
    other.spki = Some(ed25519_spki(&builder.key.verifying_key()));
    assert_eq!(code(other.validate()), ErrorCode::CsrSignatureInvalid);
    validate_der(&der).unwrap();
}

#[test]
fn malleated_signatures_are_invalid() {
    // S + L is the same signature to a lax verifier; strict verification refuses it.
    let builder = CsrBuilder::new();
    let info = builder.info().to_der().unwrap();
    let signature = malleate(&builder.key.sign(&info).to_bytes());
    let der = assemble(&info, &ed25519_algorithm(), &signature);
    assert_eq!(code(validate_der(&der)), ErrorCode::CsrSignatureInvalid);
}

#[test]
fn signatures_only_a_lax_verifier_accepts_are_invalid() {
    let builder = CsrBuilder::new();
    let info = builder.info().to_der().unwrap();
    let public = builder.key.verifying_key();
    let signature = small_order_r_signature(&builder.key, &info);

    let signature_value = ed25519_dalek::Signature::from_bytes(&signature);
    assert!(
        ed25519_dalek::Verifier::verify(&public, &info, &signature_value).is_ok(),
        "the forged signature should pass a lax verifier"
    );
    assert!(public.verify_strict(&info, &signature_value).is_err());
    let der = assemble(&info, &ed25519_algorithm(), &signature);
    assert_eq!(code(validate_der(&der)), ErrorCode::CsrSignatureInvalid);
}

#[test]
fn signature_algorithms_other_than_ed25519_are_invalid() {
    for algorithm in [
        AlgorithmIdentifierOwned {
            oid: oid("1.2.840.10045.4.3.2"), // ecdsa-with-SHA256
            parameters: None,
        },
        AlgorithmIdentifierOwned {
            oid: asn1::ED25519,
            parameters: Some(Any::encode_from(&Null).unwrap()),
        },
    ] {
        let mut builder = CsrBuilder::new();
        builder.algorithm = algorithm;
        assert_eq!(code(builder.validate()), ErrorCode::CsrSignatureInvalid);
    }
    // A signature that is not 64 octets.
    let builder = CsrBuilder::new();
    let info = builder.info().to_der().unwrap();
    let signature = builder.key.sign(&info).to_bytes();
    for bad in [&signature[..63], &[&signature[..], &[0][..]].concat()] {
        let der = assemble(&info, &ed25519_algorithm(), bad);
        assert_eq!(code(validate_der(&der)), ErrorCode::CsrSignatureInvalid);
    }
}

// --- 4. Subject -------------------------------------------------------------------------------

#[test]
fn common_name_must_be_the_actor() {
    for (rdns, why) in [
        (replace(CN, vec![]), "missing"),
        (
            replace(CN, vec![single(CN, "alice"), single(CN, "alice")]),
            "double",
        ),
        (
            replace(CN, vec![single(CN, "alice"), single(CN, "bob")]),
            "double, different",
        ),
        (replace(CN, vec![single(CN, "bob")]), "someone else"),
        (
            replace(CN, vec![single(CN, "alice@example.org")]),
            "other domain",
        ),
        (
            replace(CN, vec![single(CN, "alice.example.com")]),
            "not a FID",
        ),
        (replace(CN, vec![single(CN, "alic")]), "prefix"),
        (replace(CN, vec![single(CN, "")]), "empty"),
        (
            replace(CN, vec![rdn(vec![atv_as(CN, "alice", Str::Bmp)])]),
            "BMPString",
        ),
    ] {
        let (code, message) = refusal(with_subject(rdns));
        assert_eq!(code, ErrorCode::CsrCommonNameMismatch, "{why}: {message}");
    }
}

#[test]
fn domain_components_must_be_the_server_domain_in_order() {
    for (dcs, why) in [
        (vec![], "missing"),
        (vec!["example"], "one missing"),
        (vec!["com"], "other one missing"),
        (vec!["example", "org"], "wrong"),
        (vec!["com", "example"], "reordered"),
        (vec!["www", "example", "com"], "extra in front"),
        (vec!["example", "com", "com"], "extra at the end"),
        (vec!["example.com"], "one DC with the whole domain"),
        (vec!["example", "co"], "prefix"),
    ] {
        let rdns = replace(DC, dcs.iter().map(|dc| single(DC, dc)).collect());
        let (code, message) = refusal(with_subject(rdns));
        assert_eq!(code, ErrorCode::CsrDomainMismatch, "{why}: {message}");
    }
    let rdns = replace(
        DC,
        vec![
            single(DC, "example"),
            rdn(vec![atv_as(DC, "com", Str::Bmp)]),
        ],
    );
    assert_eq!(code(with_subject(rdns)), ErrorCode::CsrDomainMismatch);
}

#[test]
fn uid_must_be_the_federation_id() {
    for (rdns, why) in [
        (replace(UID, vec![]), "missing"),
        (
            replace(UID, vec![single(UID, "bob@example.com")]),
            "someone else",
        ),
        (
            replace(UID, vec![single(UID, "alice@example.org")]),
            "other domain",
        ),
        (replace(UID, vec![single(UID, "alice")]), "actor name only"),
        (
            replace(
                UID,
                vec![
                    single(UID, "alice@example.com"),
                    single(UID, "alice@example.com"),
                ],
            ),
            "double",
        ),
        (
            replace(
                UID,
                vec![
                    single(UID, "alice@example.com"),
                    single(UID, "bob@example.com"),
                ],
            ),
            "double, different",
        ),
        (
            replace(
                UID,
                vec![rdn(vec![atv_as(UID, "alice@example.com", Str::Bmp)])],
            ),
            "BMPString",
        ),
    ] {
        let (code, message) = refusal(with_subject(rdns));
        assert_eq!(code, ErrorCode::CsrFederationIdMismatch, "{why}: {message}");
    }
}

#[test]
fn unique_identifier_must_be_a_session_id() {
    for (rdns, why) in [
        (replace(UNIQUE_ID, vec![]), "missing"),
        (replace(UNIQUE_ID, vec![single(UNIQUE_ID, "")]), "empty"),
        (
            replace(UNIQUE_ID, vec![single(UNIQUE_ID, &"a".repeat(33))]),
            "33 characters",
        ),
        (
            replace(UNIQUE_ID, vec![single(UNIQUE_ID, "sessé")]),
            "not ASCII",
        ),
        (
            replace(
                UNIQUE_ID,
                vec![single(UNIQUE_ID, "sess1"), single(UNIQUE_ID, "sess2")],
            ),
            "double",
        ),
        (
            replace(
                UNIQUE_ID,
                vec![rdn(vec![atv_as(UNIQUE_ID, "sess1", Str::Bmp)])],
            ),
            "BMPString",
        ),
    ] {
        let (code, message) = refusal(with_subject(rdns));
        assert_eq!(code, ErrorCode::CsrSessionIdInvalid, "{why}: {message}");
    }
}

#[test]
fn subject_checks_run_in_order() {
    // Everything wrong: the CN is reported first, then DC, UID, session ID.
    let all_wrong = vec![
        single(CN, "bob"),
        single(DC, "org"),
        single(UID, "bob@org"),
        single(UNIQUE_ID, ""),
    ];
    assert_eq!(
        code(with_subject(all_wrong)),
        ErrorCode::CsrCommonNameMismatch
    );
    let rdns = vec![
        single(CN, "alice"),
        single(DC, "org"),
        single(UID, "bob@org"),
    ];
    assert_eq!(code(with_subject(rdns)), ErrorCode::CsrDomainMismatch);
    let rdns = vec![
        single(CN, "alice"),
        single(DC, "example"),
        single(DC, "com"),
        single(UID, "bob@org"),
    ];
    assert_eq!(code(with_subject(rdns)), ErrorCode::CsrFederationIdMismatch);
    // A bad signature beats a bad subject; a bad key beats a bad signature.
    let mut builder = CsrBuilder::new().subject(vec![single(CN, "bob")]);
    builder.algorithm.oid = oid("1.2.840.10045.4.3.2");
    assert_eq!(code(builder.validate()), ErrorCode::CsrSignatureInvalid);
    builder.spki = Some(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid("1.3.101.113"),
            parameters: None,
        },
        subject_public_key: BitString::from_bytes(&[0; 57]).unwrap(),
    });
    assert_eq!(code(builder.validate()), ErrorCode::UnsupportedKeyAlgorithm);
    // A bad subject beats bad capabilities.
    let builder = CsrBuilder::new()
        .subject(vec![single(CN, "bob")])
        .attributes(vec![]);
    assert_eq!(code(builder.validate()), ErrorCode::CsrCommonNameMismatch);
}

#[test]
fn the_csr_is_checked_for_the_given_actor() {
    let der = CsrBuilder::new().der();
    let parsed = parse_csr_der(&der).unwrap();
    let bob: FederationId = "bob@example.com".parse().unwrap();
    assert_eq!(
        refusal(parsed.validate(&bob)).0,
        ErrorCode::CsrCommonNameMismatch
    );
    let other_server: FederationId = "alice@example.org".parse().unwrap();
    assert_eq!(
        refusal(parsed.validate(&other_server)).0,
        ErrorCode::CsrDomainMismatch
    );
}

// --- 5. Capabilities --------------------------------------------------------------------------

#[test]
fn key_usage_must_allow_signing_and_not_certificates() {
    for (attributes, why) in [
        (vec![], "no attributes"),
        (vec![extension_request(vec![])], "empty extension request"),
        (
            vec![extension_request(vec![bc_extension(false)])],
            "basic constraints only",
        ),
        (
            vec![extension_request(vec![ku_extension(0)])],
            "empty key usage",
        ),
        (
            vec![extension_request(vec![ku_extension(1 << 2)])],
            "keyEncipherment",
        ),
        (
            vec![extension_request(vec![ku_extension(1 << 4 | ku::CRL_SIGN)])],
            "keyAgreement, cRLSign",
        ),
        (
            vec![extension_request(vec![ku_extension(
                ku::DIGITAL_SIGNATURE | ku::KEY_CERT_SIGN,
            )])],
            "digitalSignature, keyCertSign",
        ),
        (
            vec![extension_request(vec![ku_extension(
                ku::CONTENT_COMMITMENT | ku::KEY_CERT_SIGN,
            )])],
            "contentCommitment, keyCertSign",
        ),
        (
            vec![extension_request(vec![ku_extension(ku::KEY_CERT_SIGN)])],
            "keyCertSign",
        ),
        // polyproto 0.8.0's encoding of keyCertSign alone: five "unused" bits hiding the bit.
        (
            vec![plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x05, 0x04])],
            "polyproto keyCertSign",
        ),
        // polyproto 0.8.0's encoding of digitalSignature + keyCertSign + decipherOnly.
        (
            vec![plain_attribute(
                asn1::KEY_USAGE,
                &[0x03, 0x03, 0x07, 0x80, 0x84],
            )],
            "polyproto keyCertSign with decipherOnly",
        ),
    ] {
        let (code, message) = refusal(with_attributes(attributes));
        assert_eq!(code, ErrorCode::CsrKeyUsageInvalid, "{why}: {message}");
    }
}

#[test]
fn ca_requests_are_refused() {
    for attributes in [
        vec![extension_request(vec![
            ku_extension(ku::DIGITAL_SIGNATURE),
            bc_extension(true),
        ])],
        vec![
            plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x00, 0x80]),
            plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x30, 0x03, 0x01, 0x01, 0xff]),
        ],
        // polyproto's eight-octet path length.
        vec![
            plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x00, 0x80]),
            plain_attribute(
                asn1::BASIC_CONSTRAINTS,
                &[
                    0x30, 0x0d, 0x01, 0x01, 0xff, 0x02, 0x08, 0, 0, 0, 0, 0, 0, 0, 1,
                ],
            ),
        ],
        // BER TRUE.
        vec![
            plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x00, 0x80]),
            plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x30, 0x03, 0x01, 0x01, 0x01]),
        ],
    ] {
        let err = with_attributes(attributes).unwrap_err();
        assert_eq!(err, CsrError::CaRequested);
        assert_eq!(err.code(), ErrorCode::CsrCaRequested);
    }
    // CA:FALSE, with or without the BOOLEAN written out, is fine.
    with_attributes(vec![
        plain_attribute(asn1::KEY_USAGE, &[0x03, 0x02, 0x00, 0x80]),
        plain_attribute(asn1::BASIC_CONSTRAINTS, &[0x30, 0x00]),
    ])
    .unwrap();
}

// --- Robustness -------------------------------------------------------------------------------

#[test]
fn no_input_makes_it_panic() {
    let mut rng = rand::thread_rng();
    let der = CsrBuilder::new().der();
    let check = |bytes: &[u8]| {
        if let Ok(parsed) = parse_csr_der(bytes) {
            let _ = parsed.validate(&alice());
        }
    };
    // Every truncation.
    for len in 0..der.len() {
        check(&der[..len]);
    }
    // Every octet with a few different corruptions.
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
    // Random bytes, and random splices.
    for _ in 0..2000 {
        let len = rng.gen_range(0..400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        check(&bytes);
        let mut spliced = der.clone();
        let at = rng.gen_range(0..spliced.len());
        spliced.splice(at..at, bytes.iter().copied().take(8));
        check(&spliced);
    }
    // Random text.
    let alphabet: Vec<char> = "ABCabc019+/=-\r\n \t-----BEGIN CERTIFICATE REQUEST-----é\u{0}"
        .chars()
        .collect();
    for _ in 0..2000 {
        let len = rng.gen_range(0..200);
        let text: String = (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        if let Ok(parsed) = parse_csr(&text) {
            let _ = parsed.validate(&alice());
        }
    }
}

#[test]
fn every_error_has_a_message_and_a_csr_code() {
    let errors = [
        CsrError::Encoding("x".into()),
        CsrError::WrongPemLabel {
            label: "CERTIFICATE".into(),
        },
        CsrError::IsCertificate,
        CsrError::UnsupportedVersion("1".into()),
        CsrError::Der("x".into()),
        CsrError::Malformed("x".into()),
        CsrError::KeyAlgorithm { found: "x".into() },
        CsrError::InvalidPublicKey("x".into()),
        CsrError::WeakKey,
        CsrError::SignatureAlgorithm { found: "x".into() },
        CsrError::SignatureInvalid("x"),
        CsrError::CommonName("x".into()),
        CsrError::Domain("x".into()),
        CsrError::FederationId("x".into()),
        CsrError::SessionId("x".into()),
        CsrError::KeyUsage("x".into()),
        CsrError::CaRequested,
    ];
    for error in errors {
        assert!(!error.to_string().is_empty());
        assert_eq!(error.code().status(), 400, "{error:?}");
    }
}
