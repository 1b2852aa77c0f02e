//! Unit tests and the helpers they share: a CSR builder that can write any subject, attributes,
//! key and algorithm, signed with ed25519-dalek, and raw DER assembly for what it cannot.

mod csr;
mod foreign;
mod identity;
mod openssl;
mod polyproto_interop;

use std::str::FromStr;

use der::asn1::{
    Any, BitString, BmpString, Ia5StringRef, ObjectIdentifier, OctetString, PrintableStringRef,
    SetOfVec, Utf8StringRef,
};
use der::pem::LineEnding;
use der::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use polyhome_proto::{DomainName, ErrorCode, FederationId};
use rand::RngCore;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::Certificate;

use crate::asn1::{self, ku};
use crate::{parse_csr_der, CsrError, Serial, ServerIdentity, ValidatedCsr};

/// 2023-11-14T22:13:20Z.
pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const YEAR: u64 = 365 * 24 * 3600;

pub(crate) const CN: &str = "2.5.4.3";
pub(crate) const DC: &str = "0.9.2342.19200300.100.1.25";
pub(crate) const UID: &str = "0.9.2342.19200300.100.1.1";
pub(crate) const UNIQUE_ID: &str = "0.9.2342.19200300.100.1.44";

pub(crate) fn alice() -> FederationId {
    "alice@example.com".parse().unwrap()
}

pub(crate) fn example_com() -> DomainName {
    "example.com".parse().unwrap()
}

/// A server for example.com, valid from an hour before [`NOW`] for a year.
pub(crate) fn identity() -> ServerIdentity {
    ServerIdentity::generate(&example_com(), Serial::random(), NOW - 3600, NOW + YEAR).unwrap()
}

pub(crate) fn signing_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

pub(crate) fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

/// The string types an attribute value can be written in.
#[derive(Clone, Copy)]
pub(crate) enum Str {
    Utf8,
    Printable,
    Ia5,
    Bmp,
}

pub(crate) fn atv_as(attribute: &str, value: &str, kind: Str) -> AttributeTypeAndValue {
    let value = match kind {
        Str::Utf8 => Any::encode_from(&Utf8StringRef::new(value).unwrap()),
        Str::Printable => Any::encode_from(&PrintableStringRef::new(value).unwrap()),
        Str::Ia5 => Any::encode_from(&Ia5StringRef::new(value).unwrap()),
        Str::Bmp => Any::encode_from(&BmpString::from_utf8(value).unwrap()),
    }
    .unwrap();
    AttributeTypeAndValue {
        oid: oid(attribute),
        value,
    }
}

/// An attribute as OpenSSL writes it: DC as IA5String, the rest as UTF8String.
pub(crate) fn atv(attribute: &str, value: &str) -> AttributeTypeAndValue {
    let kind = if attribute == DC { Str::Ia5 } else { Str::Utf8 };
    atv_as(attribute, value, kind)
}

pub(crate) fn rdn(atvs: Vec<AttributeTypeAndValue>) -> RelativeDistinguishedName {
    RelativeDistinguishedName(SetOfVec::try_from(atvs).unwrap())
}

pub(crate) fn single(attribute: &str, value: &str) -> RelativeDistinguishedName {
    rdn(vec![atv(attribute, value)])
}

/// `CN=alice, DC=example, DC=com, UID=alice@example.com, uniqueIdentifier=sess1`, in DER order.
pub(crate) fn alice_rdns() -> Vec<RelativeDistinguishedName> {
    vec![
        single(CN, "alice"),
        single(DC, "example"),
        single(DC, "com"),
        single(UID, "alice@example.com"),
        single(UNIQUE_ID, "sess1"),
    ]
}

pub(crate) fn name(rdns: Vec<RelativeDistinguishedName>) -> Name {
    RdnSequence(rdns)
}

pub(crate) fn ku_extension(bits: u16) -> Extension {
    Extension {
        extn_id: asn1::KEY_USAGE,
        critical: true,
        extn_value: OctetString::new(asn1::encode_key_usage(bits).unwrap().to_der().unwrap())
            .unwrap(),
    }
}

pub(crate) fn bc_extension(ca: bool) -> Extension {
    Extension {
        extn_id: asn1::BASIC_CONSTRAINTS,
        critical: true,
        extn_value: OctetString::new(asn1::encode_basic_constraints(ca, None).unwrap()).unwrap(),
    }
}

/// A PKCS #9 extensionRequest attribute, OpenSSL style.
pub(crate) fn extension_request(extensions: Vec<Extension>) -> Attribute {
    let value = Any::from_der(&extensions.to_der().unwrap()).unwrap();
    Attribute {
        oid: asn1::EXTENSION_REQUEST,
        values: SetOfVec::try_from(vec![value]).unwrap(),
    }
}

/// A plain CSR attribute with one value given as DER, polyproto 0.8.0 style.
pub(crate) fn plain_attribute(attribute: ObjectIdentifier, value_der: &[u8]) -> Attribute {
    Attribute {
        oid: attribute,
        values: SetOfVec::try_from(vec![Any::from_der(value_der).unwrap()]).unwrap(),
    }
}

/// keyUsage digitalSignature and CA:FALSE, in an extensionRequest.
pub(crate) fn default_attributes() -> Vec<Attribute> {
    vec![extension_request(vec![
        ku_extension(ku::DIGITAL_SIGNATURE),
        bc_extension(false),
    ])]
}

pub(crate) fn ed25519_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: asn1::ED25519,
        parameters: None,
    }
}

pub(crate) fn ed25519_spki(key: &VerifyingKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned {
        algorithm: ed25519_algorithm(),
        subject_public_key: BitString::from_bytes(key.as_bytes()).unwrap(),
    }
}

/// Builds and signs PKCS #10 requests; every part can be replaced. Defaults: alice's subject,
/// [`default_attributes`], a fresh Ed25519 key, Ed25519 signature algorithm.
pub(crate) struct CsrBuilder {
    pub subject: Name,
    pub attributes: Vec<Attribute>,
    pub key: SigningKey,
    pub spki: Option<SubjectPublicKeyInfoOwned>,
    pub algorithm: AlgorithmIdentifierOwned,
}

impl CsrBuilder {
    pub fn new() -> CsrBuilder {
        CsrBuilder {
            subject: name(alice_rdns()),
            attributes: default_attributes(),
            key: signing_key(),
            spki: None,
            algorithm: ed25519_algorithm(),
        }
    }

    pub fn subject(mut self, rdns: Vec<RelativeDistinguishedName>) -> CsrBuilder {
        self.subject = name(rdns);
        self
    }

    pub fn attributes(mut self, attributes: Vec<Attribute>) -> CsrBuilder {
        self.attributes = attributes;
        self
    }

    pub fn info(&self) -> CertReqInfo {
        CertReqInfo {
            version: Version::V1,
            subject: self.subject.clone(),
            public_key: self
                .spki
                .clone()
                .unwrap_or_else(|| ed25519_spki(&self.key.verifying_key())),
            attributes: SetOfVec::try_from(self.attributes.clone()).unwrap(),
        }
    }

    pub fn der(&self) -> Vec<u8> {
        let info_der = self.info().to_der().unwrap();
        let signature = self.key.sign(&info_der);
        assemble(&info_der, &self.algorithm, &signature.to_bytes())
    }

    pub fn pem(&self) -> String {
        pem("CERTIFICATE REQUEST", &self.der())
    }

    pub fn validate(&self) -> Result<ValidatedCsr, CsrError> {
        validate_der(&self.der())
    }
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, LineEnding::LF, der).unwrap()
}

/// DER TLV with a one-octet tag.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// `CertificationRequest` from raw info DER, an algorithm and signature octets.
pub(crate) fn assemble(
    info_der: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
) -> Vec<u8> {
    let mut content = info_der.to_vec();
    content.extend(algorithm.to_der().unwrap());
    content.extend(BitString::from_bytes(signature).unwrap().to_der().unwrap());
    tlv(0x30, &content)
}

/// Signs raw CertificationRequestInfo DER with `key` and wraps it into a request.
pub(crate) fn sign_raw_info(info_der: &[u8], key: &SigningKey) -> Vec<u8> {
    assemble(
        info_der,
        &ed25519_algorithm(),
        &key.sign(info_der).to_bytes(),
    )
}

pub(crate) fn validate_der(der: &[u8]) -> Result<ValidatedCsr, CsrError> {
    parse_csr_der(der)?.validate(&alice())
}

/// The error code of a refused CSR; panics (with the CSR accepted) if it was not refused.
#[track_caller]
pub(crate) fn refusal<T: std::fmt::Debug>(result: Result<T, CsrError>) -> (ErrorCode, String) {
    match result {
        Ok(accepted) => panic!("expected a refusal, the CSR was accepted: {accepted:?}"),
        Err(e) => (e.code(), e.to_string()),
    }
}

/// The TBSCertificate DER of a certificate, byte for byte.
pub(crate) fn tbs_der(cert_der: &[u8]) -> Vec<u8> {
    asn1::sequence_elements(cert_der).unwrap()[0].to_vec()
}

pub(crate) fn parse_cert(der: &[u8]) -> Certificate {
    Certificate::from_der(der).unwrap()
}

/// Checks `cert_der`'s signature strictly under `public_key`.
pub(crate) fn signature_verifies(cert_der: &[u8], public_key: &[u8]) -> bool {
    let cert = parse_cert(cert_der);
    let key = VerifyingKey::from_bytes(public_key.try_into().unwrap()).unwrap();
    let signature =
        ed25519_dalek::Signature::from_bytes(cert.signature.raw_bytes().try_into().unwrap());
    cert.signature_algorithm == ed25519_algorithm()
        && key.verify_strict(&tbs_der(cert_der), &signature).is_ok()
}

pub(crate) fn name_from_str(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// `signature` with L, the order of the base point, added to S: the same signature to a lax
/// verifier, a malleated one that strict verification refuses (S must be below L).
pub(crate) fn malleate(signature: &[u8; 64]) -> [u8; 64] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = *signature;
    let mut carry = 0u16;
    for (s, l) in out[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L overflowed 256 bits");
    out
}

/// A signature of `message` under `key` that only a lax verifier accepts.
///
/// With the private scalar a, R = identity (a small-order point) and S = k·a, where
/// k = SHA-512(R ‖ A ‖ M), satisfy [S]B = R + [k]A. The cofactorless lax check accepts this;
/// strict verification refuses the small-order R (§7.2.1).
pub(crate) fn small_order_r_signature(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    use curve25519_dalek::Scalar;
    use ring::digest::{digest, SHA512};

    let expanded = digest(&SHA512, key.as_bytes());
    let mut a = [0u8; 32];
    a.copy_from_slice(&expanded.as_ref()[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let mut r = [0u8; 32];
    r[0] = 1;
    let public = key.verifying_key();
    let k = digest(&SHA512, &[&r[..], public.as_bytes(), message].concat());
    let k = Scalar::from_bytes_mod_order_wide(k.as_ref().try_into().unwrap());
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    signature[32..].copy_from_slice((k * a).as_bytes());
    signature
}
