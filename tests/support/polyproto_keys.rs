//! Ed25519 keys for the `polyproto` crate 0.8.0, which is generic over the signature scheme and
//! leaves the implementation to its users. Shared by the tests that drive polyproto as a client.

use der::asn1::BitString;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use polyproto::certs::PublicKeyInfo;
use polyproto::errors::composite::{ConversionError, PublicKeyError};
use polyproto::key::{PrivateKey, PublicKey};
use polyproto::signature::Signature;
use spki::AlgorithmIdentifierOwned;

/// Ed25519, OID 1.3.101.112, without parameters (RFC 8410).
pub fn ed25519_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: der::oid::ObjectIdentifier::new_unwrap("1.3.101.112"),
        parameters: None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Signature(pub ed25519_dalek::Signature);

impl spki::SignatureBitStringEncoding for Ed25519Signature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0.to_bytes())
    }
}

impl Signature for Ed25519Signature {
    type Signature = ed25519_dalek::Signature;

    fn as_signature(&self) -> &Self::Signature {
        &self.0
    }

    fn algorithm_identifier() -> AlgorithmIdentifierOwned {
        ed25519_algorithm()
    }

    fn from_bitstring(signature: &[u8]) -> Self {
        let mut bytes = [0u8; 64];
        let len = signature.len().min(64);
        bytes[..len].copy_from_slice(&signature[..len]);
        Ed25519Signature(ed25519_dalek::Signature::from_bytes(&bytes))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey(pub VerifyingKey);

impl PublicKey<Ed25519Signature> for Ed25519PublicKey {
    fn verify_signature(
        &self,
        signature: &Ed25519Signature,
        data: &[u8],
    ) -> Result<(), PublicKeyError> {
        self.0
            .verify_strict(data, &signature.0)
            .map_err(|_| PublicKeyError::BadSignature)
    }

    fn public_key_info(&self) -> PublicKeyInfo {
        PublicKeyInfo {
            algorithm: ed25519_algorithm(),
            public_key_bitstring: BitString::from_bytes(self.0.as_bytes())
                .expect("32 bytes fit a bit string"),
        }
    }

    fn try_from_public_key_info(info: PublicKeyInfo) -> Result<Self, ConversionError> {
        let bytes: [u8; 32] = info
            .public_key_bitstring
            .raw_bytes()
            .try_into()
            .map_err(|_| PublicKeyError::BadPublicKeyInfo)?;
        Ok(Ed25519PublicKey(
            VerifyingKey::from_bytes(&bytes).map_err(|_| PublicKeyError::BadPublicKeyInfo)?,
        ))
    }
}

#[derive(PartialEq, Eq)]
pub struct Ed25519PrivateKey {
    pub key: SigningKey,
    pub public: Ed25519PublicKey,
}

impl Ed25519PrivateKey {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let key = SigningKey::from_bytes(&seed);
        let public = Ed25519PublicKey(key.verifying_key());
        Ed25519PrivateKey { key, public }
    }
}

impl PrivateKey<Ed25519Signature> for Ed25519PrivateKey {
    type PublicKey = Ed25519PublicKey;

    fn pubkey(&self) -> &Ed25519PublicKey {
        &self.public
    }

    fn sign(&self, data: &[u8]) -> Ed25519Signature {
        Ed25519Signature(self.key.sign(data))
    }
}
