//! Client-side ID-CSRs, built the way `openssl req -new -subj … -addext
//! keyUsage=critical,digitalSignature` writes them, without running openssl once per CSR.
//!
//! Subject `/CN=actor/DC=label/…/UID=actor@domain/uniqueIdentifier=session` (CN, UID and
//! uniqueIdentifier as UTF8String, DC as IA5String, one attribute per RDN, in that order), an
//! Ed25519 key, and a PKCS #9 extensionRequest attribute holding a critical keyUsage extension
//! with digitalSignature. Signed with Ed25519 over the DER CertificationRequestInfo.

use anyhow::Context;
use der::asn1::{Any, BitString, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::pem::LineEnding;
use der::{Encode, EncodePem, Tag};
use ed25519_dalek::{Signer, SigningKey};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::ext::Extension;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const DOMAIN_COMPONENT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25");
const USER_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
const UNIQUE_IDENTIFIER: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.44");
const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// keyUsage's BIT STRING with only digitalSignature (bit 0) set: 7 unused bits, 0b1000_0000.
const KEY_USAGE_DIGITAL_SIGNATURE: [u8; 4] = [0x03, 0x02, 0x07, 0x80];

/// A new Ed25519 key from the operating system's random number generator.
pub fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

/// A PEM ID-CSR for `actor@domain` with session ID `session`, signed by `key`.
pub fn id_csr(
    key: &SigningKey,
    actor: &str,
    domain: &str,
    session: &str,
) -> anyhow::Result<String> {
    build(key, actor, domain, session)
        .with_context(|| format!("building the ID-CSR of {actor}@{domain}"))
}

fn build(key: &SigningKey, actor: &str, domain: &str, session: &str) -> der::Result<String> {
    let mut rdns = vec![rdn(COMMON_NAME, Tag::Utf8String, actor)?];
    for label in domain.split('.') {
        rdns.push(rdn(DOMAIN_COMPONENT, Tag::Ia5String, label)?);
    }
    rdns.push(rdn(USER_ID, Tag::Utf8String, &format!("{actor}@{domain}"))?);
    rdns.push(rdn(UNIQUE_IDENTIFIER, Tag::Utf8String, session)?);

    let key_usage = Extension {
        extn_id: KEY_USAGE,
        critical: true,
        extn_value: OctetString::new(KEY_USAGE_DIGITAL_SIGNATURE.to_vec())?,
    };
    let extension_request = Attribute {
        oid: EXTENSION_REQUEST,
        values: SetOfVec::try_from(vec![Any::encode_from(&vec![key_usage])?])?,
    };
    let algorithm = AlgorithmIdentifierOwned {
        oid: ED25519,
        parameters: None,
    };
    let info = CertReqInfo {
        version: Version::V1,
        subject: RdnSequence(rdns),
        public_key: SubjectPublicKeyInfoOwned {
            algorithm: algorithm.clone(),
            subject_public_key: BitString::from_bytes(key.verifying_key().as_bytes())?,
        },
        attributes: SetOfVec::try_from(vec![extension_request])?,
    };
    let signature = key.sign(&info.to_der()?);
    let request = CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&signature.to_bytes())?,
    };
    request.to_pem(LineEnding::LF)
}

/// A relative distinguished name of one attribute.
fn rdn(oid: ObjectIdentifier, tag: Tag, value: &str) -> der::Result<RelativeDistinguishedName> {
    let value = Any::new(tag, value.as_bytes())?;
    Ok(RelativeDistinguishedName(SetOfVec::try_from(vec![
        AttributeTypeAndValue { oid, value },
    ])?))
}
