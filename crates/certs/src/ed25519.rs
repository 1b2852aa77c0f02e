//! Ed25519 keys and signatures as X.509 carries them (RFC 8410), verified strictly (§7.2.1):
//! shared by CSR checking, foreign ID-Certs and root certificates.

use der::asn1::BitString;
use ed25519_dalek::{Signature, VerifyingKey};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};

use crate::asn1;

/// Why a SubjectPublicKeyInfo is not a usable Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// Another algorithm.
    Algorithm(ObjectIdentifier),
    /// Ed25519, but not a valid key: the reason, as the end of a sentence.
    Invalid(String),
    /// A small-order point, under which signatures prove nothing.
    Weak,
}

impl KeyError {
    /// The whole story in one clause: "the key is …".
    pub(crate) fn describe(&self) -> String {
        match self {
            KeyError::Algorithm(oid) => format!(
                "its key is {}, not Ed25519 (OID 1.3.101.112)",
                asn1::describe_oid(oid)
            ),
            KeyError::Invalid(reason) => format!("its Ed25519 key is not a valid one: {reason}"),
            KeyError::Weak => "its Ed25519 key is a weak (small-order) point".to_owned(),
        }
    }
}

/// The Ed25519 key of `spki`: OID 1.3.101.112 without parameters, 32 octets that encode a
/// curve point not of small order.
pub(crate) fn public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<VerifyingKey, KeyError> {
    if spki.algorithm.oid != asn1::ED25519 {
        return Err(KeyError::Algorithm(spki.algorithm.oid));
    }
    if spki.algorithm.parameters.is_some() {
        return Err(KeyError::Invalid(
            "its algorithm identifier has parameters, which Ed25519's must not (RFC 8410)"
                .to_owned(),
        ));
    }
    let bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| KeyError::Invalid("the key BIT STRING has unused bits".to_owned()))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
        KeyError::Invalid(format!(
            "an Ed25519 public key is 32 octets, this one is {}",
            bytes.len()
        ))
    })?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| KeyError::Invalid("it is not the encoding of a curve point".to_owned()))?;
    if key.is_weak() {
        return Err(KeyError::Weak);
    }
    Ok(key)
}

/// Why a signature algorithm identifier is not Ed25519's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AlgorithmError {
    /// Another algorithm.
    Other(ObjectIdentifier),
    /// Ed25519 with parameters, which RFC 8410 forbids.
    Parameters,
}

impl AlgorithmError {
    pub(crate) fn describe(&self) -> String {
        match self {
            AlgorithmError::Other(oid) => format!(
                "it is signed with {}, not Ed25519 (OID 1.3.101.112)",
                asn1::describe_oid(oid)
            ),
            AlgorithmError::Parameters => {
                "its Ed25519 signature algorithm identifier has parameters, which RFC 8410 forbids"
                    .to_owned()
            }
        }
    }
}

/// Whether `algorithm` is Ed25519, without parameters (RFC 8410 §3).
pub(crate) fn check_algorithm(algorithm: &AlgorithmIdentifierOwned) -> Result<(), AlgorithmError> {
    if algorithm.oid != asn1::ED25519 {
        return Err(AlgorithmError::Other(algorithm.oid));
    }
    if algorithm.parameters.is_some() {
        return Err(AlgorithmError::Parameters);
    }
    Ok(())
}

/// The 64 octets of an Ed25519 signature BIT STRING without unused bits.
pub(crate) fn signature(bits: &BitString) -> Option<Signature> {
    signature_from_slice(bits.as_bytes()?)
}

/// An Ed25519 signature from exactly 64 octets. The octets are not checked here:
/// [`verify_strict`] refuses non-canonical S and small-order R.
pub(crate) fn signature_from_slice(bytes: &[u8]) -> Option<Signature> {
    let bytes: [u8; 64] = bytes.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// Strict Ed25519 verification (§7.2.1): ed25519-dalek's `verify_strict`, which refuses
/// non-canonical S (malleated signatures), small-order R and weak keys.
pub(crate) fn verify_strict(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    key.verify_strict(message, signature).is_ok()
}
