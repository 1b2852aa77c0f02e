//! The home server's identity key, its root ID-Cert, and issuing actors' ID-Certs (§7.1.1).

use std::fmt;

use der::asn1::{BitString, OctetString};
use der::Encode;
use polyhome_proto::DomainName;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::Certificate;

use crate::asn1::{self, ku};
use crate::csr::ValidatedCsr;
use crate::foreign::RootCert;
use crate::serial::Serial;
use crate::text;

/// Why a server identity could not be made, loaded or used. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// `not_before` after `not_after`.
    #[error("the validity period starts ({not_before}) after it ends ({not_after})")]
    InvalidValidity { not_before: u64, not_after: u64 },
    /// The requested validity does not overlap the server certificate's.
    #[error(
        "the requested validity {requested_not_before}..={requested_not_after} does not overlap \
         the server certificate's validity {server_not_before}..={server_not_after}"
    )]
    EmptyValidity {
        requested_not_before: u64,
        requested_not_after: u64,
        server_not_before: u64,
        server_not_after: u64,
    },
    /// A time X.509 cannot express (after 9999-12-31T23:59:59Z).
    #[error("UNIX time {0} cannot be written as an X.509 time (it is after the year 9999)")]
    TimeOutOfRange(u64),
    /// The system random number generator failed.
    #[error("could not generate an Ed25519 key: the system random number generator failed")]
    KeyGeneration,
    /// The stored private key does not parse.
    #[error("the stored private key is not an unencrypted Ed25519 PKCS #8 key")]
    InvalidPrivateKey,
    /// The stored certificate does not parse or is not a usable root ID-Cert.
    #[error("the stored server certificate is unusable: {0}")]
    InvalidCertificate(String),
    /// The stored private key and certificate do not belong together.
    #[error("the stored private key does not belong to the stored certificate's public key")]
    KeyMismatch,
    /// DER encoding failed (should not happen).
    #[error("could not DER-encode the certificate: {0}")]
    Encoding(String),
}

impl From<der::Error> for CertError {
    fn from(e: der::Error) -> Self {
        CertError::Encoding(e.to_string())
    }
}

/// An ID-Cert signed by the home server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    pub der: Vec<u8>,
    /// `-----BEGIN CERTIFICATE-----` PEM, LF line endings.
    pub pem: String,
    pub serial: Serial,
    /// UNIX seconds, after clamping into the server certificate's validity.
    pub not_before: u64,
    pub not_after: u64,
}

/// The home server's Ed25519 identity key and its self-signed root ID-Cert.
pub struct ServerIdentity {
    key_pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    cert_der: Vec<u8>,
    cert_pem: String,
    serial: Serial,
    not_before: u64,
    not_after: u64,
    subject: Name,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public_key: String = self
            .key_pair
            .public_key()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("ServerIdentity")
            .field("subject", &self.subject.to_string())
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("public_key", &public_key)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn ed25519_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: asn1::ED25519,
        parameters: None,
    }
}

fn ed25519_spki(public_key: &[u8]) -> Result<SubjectPublicKeyInfoOwned, CertError> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: ed25519_algorithm(),
        subject_public_key: BitString::from_bytes(public_key)?,
    })
}

fn critical_extension(
    oid: der::oid::ObjectIdentifier,
    value: Vec<u8>,
) -> Result<Extension, CertError> {
    Ok(Extension {
        extn_id: oid,
        critical: true,
        extn_value: OctetString::new(value)?,
    })
}

/// BasicConstraints and KeyUsage, both critical (§7.1.1.2), and nothing else: polyproto 0.8.0
/// refuses certificates with any other extension.
fn id_cert_extensions(
    ca: bool,
    path_len: Option<u8>,
    key_usage: u16,
) -> Result<Vec<Extension>, CertError> {
    Ok(vec![
        critical_extension(
            asn1::BASIC_CONSTRAINTS,
            asn1::encode_basic_constraints(ca, path_len)?,
        )?,
        critical_extension(
            asn1::KEY_USAGE,
            asn1::encode_key_usage(key_usage)?.to_der()?,
        )?,
    ])
}

fn validity(not_before: u64, not_after: u64) -> Result<Validity, CertError> {
    if not_before > not_after {
        return Err(CertError::InvalidValidity {
            not_before,
            not_after,
        });
    }
    Ok(Validity {
        not_before: asn1::x509_time(not_before).ok_or(CertError::TimeOutOfRange(not_before))?,
        not_after: asn1::x509_time(not_after).ok_or(CertError::TimeOutOfRange(not_after))?,
    })
}

/// Signs `tbs` with `key` and returns the certificate's DER.
fn sign(key: &Ed25519KeyPair, tbs: TbsCertificate) -> Result<Vec<u8>, CertError> {
    let signature = key.sign(&tbs.to_der()?);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ed25519_algorithm(),
        signature: BitString::from_bytes(signature.as_ref())?,
    };
    Ok(cert.to_der()?)
}

impl ServerIdentity {
    /// A new Ed25519 identity key and its self-signed root ID-Cert for `domain`.
    ///
    /// The certificate's subject and issuer are one domainComponent RDN per domain label, left
    /// to right, and no common name (§7.1.1.1). Its extensions are BasicConstraints CA:TRUE with
    /// pathLenConstraint 0 and KeyUsage keyCertSign and cRLSign, both critical (§7.1.1.2).
    pub fn generate(
        domain: &DomainName,
        serial: Serial,
        not_before: u64,
        not_after: u64,
    ) -> Result<ServerIdentity, CertError> {
        let validity = validity(not_before, not_after)?;
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| CertError::KeyGeneration)?;
        let key_pair =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| CertError::KeyGeneration)?;
        let subject = asn1::domain_name(domain.labels())?;
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(serial.as_bytes())?,
            signature: ed25519_algorithm(),
            issuer: subject.clone(),
            validity,
            subject: subject.clone(),
            subject_public_key_info: ed25519_spki(key_pair.public_key().as_ref())?,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(id_cert_extensions(
                true,
                Some(0),
                ku::KEY_CERT_SIGN | ku::CRL_SIGN,
            )?),
        };
        let cert_der = sign(&key_pair, tbs)?;
        Ok(ServerIdentity {
            key_pair,
            pkcs8: pkcs8.as_ref().to_vec(),
            cert_pem: text::pem_encode("CERTIFICATE", &cert_der),
            cert_der,
            serial,
            not_before,
            not_after,
            subject,
        })
    }

    /// Rebuilds the identity from what [`ServerIdentity::generate`] produced and the caller
    /// stored: the PKCS #8 private key DER ([`ServerIdentity::pkcs8_der`]; v2 as generated, v1
    /// is read too) and the certificate DER ([`ServerIdentity::cert_der`]).
    ///
    /// Fails if either does not parse, if the certificate is not a root ID-Cert as
    /// [`crate::parse_root_cert`] checks it (self-signed, verifying strictly, CA:TRUE with path
    /// length 0, keyCertSign, …), or if the key is not the certificate's.
    pub fn from_stored(pkcs8_der: &[u8], cert_der: &[u8]) -> Result<ServerIdentity, CertError> {
        let key_pair = Ed25519KeyPair::from_pkcs8(pkcs8_der)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der))
            .map_err(|_| CertError::InvalidPrivateKey)?;
        // The checks a foreign server makes of a root certificate (`parse_root_cert`), which
        // every certificate `generate` writes passes.
        let root = RootCert::from_der(cert_der.to_vec()).map_err(CertError::InvalidCertificate)?;
        if root.public_key() != key_pair.public_key().as_ref() {
            return Err(CertError::KeyMismatch);
        }
        Ok(ServerIdentity {
            key_pair,
            pkcs8: pkcs8_der.to_vec(),
            cert_pem: text::pem_encode("CERTIFICATE", root.der()),
            cert_der: root.der().to_vec(),
            serial: root.serial().clone(),
            not_before: root.not_before(),
            not_after: root.not_after(),
            subject: root.subject().clone(),
        })
    }

    /// The PKCS #8 DER of the private key. Store it secretly.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The root ID-Cert, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The root ID-Cert, `-----BEGIN CERTIFICATE-----` PEM with LF line endings.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root ID-Cert's serial number.
    pub fn serial(&self) -> &Serial {
        &self.serial
    }

    /// Start of the root ID-Cert's validity, UNIX seconds.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// End of the root ID-Cert's validity, UNIX seconds.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// The server's Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// Signs an ID-Cert for a validated CSR.
    ///
    /// `not_before`/`not_after` are clamped into this identity's own validity (§7.1.1); a
    /// window that is empty after clamping is an error. The ID-Cert is X.509 v3 with issuer
    /// this certificate's subject and subject the CSR's, both byte for byte, the CSR's key,
    /// and exactly two critical extensions: BasicConstraints CA:FALSE and KeyUsage with the
    /// requested digitalSignature/contentCommitment bits.
    pub fn issue(
        &self,
        csr: &ValidatedCsr,
        serial: Serial,
        not_before: u64,
        not_after: u64,
    ) -> Result<IssuedCert, CertError> {
        if not_before > not_after {
            return Err(CertError::InvalidValidity {
                not_before,
                not_after,
            });
        }
        let clamped_not_before = not_before.max(self.not_before);
        let clamped_not_after = not_after.min(self.not_after);
        if clamped_not_before > clamped_not_after {
            return Err(CertError::EmptyValidity {
                requested_not_before: not_before,
                requested_not_after: not_after,
                server_not_before: self.not_before,
                server_not_after: self.not_after,
            });
        }
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(serial.as_bytes())?,
            signature: ed25519_algorithm(),
            issuer: self.subject.clone(),
            validity: validity(clamped_not_before, clamped_not_after)?,
            subject: csr.subject.clone(),
            subject_public_key_info: ed25519_spki(&csr.public_key)?,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(id_cert_extensions(false, None, csr.key_usage)?),
        };
        let der = sign(&self.key_pair, tbs)?;
        Ok(IssuedCert {
            pem: text::pem_encode("CERTIFICATE", &der),
            der,
            serial,
            not_before: clamped_not_before,
            not_after: clamped_not_after,
        })
    }
}
