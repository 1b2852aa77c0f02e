//! ID-Certs received from elsewhere: an actor's ID-Cert presented to this server as a foreign
//! server (§4.1.1, polyproto-auth §1.3), and the root certificate of the actor's home server
//! it is checked against (§7.1.1, §7.2.1).
//!
//! Reading checks structure only (§7.1.1): [`parse_actor_cert`] and [`parse_root_cert`] take
//! any well-formed certificate, whoever issued it. What makes an actor certificate
//! trustworthy is checked by the caller, one [`ActorCert`] method each, so that each failure
//! has its own error code: [`ActorCert::check_validity`], [`ActorCert::check_domains`],
//! [`ActorCert::verify_issued_by`] with the home server's root, and
//! [`ActorCert::verify_signature`] for the challenge.

use std::fmt;
use std::time::Duration;

use der::Decode;
use ed25519_dalek::{Signature, VerifyingKey};
use polyhome_proto::{DomainName, ErrorCode, FederationId, SessionId};
use x509_cert::certificate::Version;
use x509_cert::name::Name;
use x509_cert::request::CertReq;
use x509_cert::Certificate;

use crate::asn1::{self, ku};
use crate::ed25519;
use crate::names::{self, NameAttributes, One, SESSION_ID_EXPECTED};
use crate::serial::Serial;
use crate::text::{self, printable_prefix, TextError};

/// The longest certificate text looked at. An Ed25519 ID-Cert is well under a kilobyte.
const MAX_INPUT_LEN: usize = 64 * 1024;

/// Why a foreign ID-Cert, its home server's root certificate, or a signature made with the
/// ID-Cert's key was refused. [`ForeignCertError::code`] gives the error code to answer with;
/// the `Display` text says what was wrong in a sentence meant for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignCertError {
    /// Not an actor ID-Cert of the structure §7.1.1 requires (or not a certificate at all).
    #[error("the ID-Cert is not a well-formed actor ID-Cert (§7.1.1): {0}")]
    Malformed(String),
    /// `now` is before the ID-Cert's notBefore or after its notAfter.
    #[error(
        "the ID-Cert is {} at {}: it is valid from {} to {}",
        if now < not_before { "not yet valid" } else { "expired" },
        time(*now),
        time(*not_before),
        time(*not_after)
    )]
    OutsideValidity {
        now: u64,
        not_before: u64,
        not_after: u64,
    },
    /// The issuer's domain components, the UID's domain and the subject's domain components
    /// are not one domain.
    #[error(
        "the ID-Cert's domains disagree: its issuer (the home server) is {issuer_domain}, its \
         UID's domain is {uid_domain} and its subject's domain components are \
         {subject_domain}; all three must be the actor's home server's domain (§7.1.1.1)"
    )]
    DomainMismatch {
        issuer_domain: DomainName,
        uid_domain: DomainName,
        subject_domain: DomainName,
    },
    /// The ID-Cert's issuer is not the home server's root certificate, or its signature does
    /// not verify under that certificate's key.
    #[error("the ID-Cert was not issued by its home server's certificate: {0}")]
    NotSignedByHomeServer(String),
    /// The signature is not a strictly valid Ed25519 signature of the message under the
    /// ID-Cert's key.
    #[error(
        "the signature does not verify (strictly, §7.2.1) under the ID-Cert's Ed25519 key; it \
         must be the 64-octet Ed25519 signature of the challenge string, made with the private \
         key of that ID-Cert"
    )]
    ChallengeSignatureInvalid,
    /// What the home server gave as its root certificate is not a usable one.
    #[error("the home server's certificate is not a usable root ID-Cert (§7.1.1): {0}")]
    RootMalformed(String),
}

impl ForeignCertError {
    /// The error code of this refusal. A malformed root certificate is the home server's
    /// fault, not the actor's: `HomeServerUnreachable`, "gave an unusable answer".
    pub fn code(&self) -> ErrorCode {
        match self {
            ForeignCertError::Malformed(_) => ErrorCode::IdCertMalformed,
            ForeignCertError::OutsideValidity { .. } => ErrorCode::IdCertOutsideValidity,
            ForeignCertError::DomainMismatch { .. } => ErrorCode::IdCertDomainMismatch,
            ForeignCertError::NotSignedByHomeServer(_) => ErrorCode::IdCertNotSignedByHomeServer,
            ForeignCertError::ChallengeSignatureInvalid => ErrorCode::ChallengeSignatureInvalid,
            ForeignCertError::RootMalformed(_) => ErrorCode::HomeServerUnreachable,
        }
    }
}

/// `2023-11-14T22:13:20Z (UNIX 1700000000)`.
fn time(unix: u64) -> String {
    match der::DateTime::from_unix_duration(Duration::from_secs(unix)) {
        Ok(date) => format!("{date} (UNIX {unix})"),
        Err(_) => format!("UNIX time {unix}"),
    }
}

/// What every ID-Cert, actor or root, must be (§7.1.1): X.509 v3, Ed25519 throughout, a
/// positive serial of at most 20 octets, critical BasicConstraints and KeyUsage when present,
/// no other critical extension and no extension twice. Errors are the end of a sentence
/// about the certificate ("its key is …").
#[derive(Clone)]
struct CertFields {
    der: Vec<u8>,
    /// The TBSCertificate exactly as received: what the signature covers.
    tbs_der: Vec<u8>,
    /// The issuer and subject names exactly as received.
    issuer_der: Vec<u8>,
    subject_der: Vec<u8>,
    issuer: Name,
    subject: Name,
    serial: Serial,
    not_before: u64,
    not_after: u64,
    key: VerifyingKey,
    signature: Signature,
    /// The keyUsage bits, if the extension is present.
    key_usage: Option<u16>,
    /// basicConstraints `(cA, pathLenConstraint content octets)`, if present.
    basic_constraints: Option<(bool, Option<Vec<u8>>)>,
}

impl CertFields {
    fn read(der: Vec<u8>) -> Result<CertFields, String> {
        let cert = match Certificate::from_der(&der) {
            Ok(cert) => cert,
            Err(_) if CertReq::from_der(&der).is_ok() => {
                return Err(
                    "this is a PKCS #10 certificate signing request, not a certificate".to_owned(),
                )
            }
            Err(e) => return Err(format!("it is not a DER-encoded X.509 certificate: {e}")),
        };
        let tbs = &cert.tbs_certificate;
        if tbs.version != Version::V3 {
            return Err(format!(
                "it is an X.509 v{} certificate; ID-Certs are X.509 v3",
                tbs.version as u8 + 1
            ));
        }
        ed25519::check_algorithm(&cert.signature_algorithm).map_err(|e| e.describe())?;
        ed25519::check_algorithm(&tbs.signature).map_err(|e| {
            format!(
                "its TBSCertificate's signature field disagrees with its signature algorithm: {}",
                e.describe()
            )
        })?;
        let signature = ed25519::signature(&cert.signature).ok_or_else(|| {
            "its signature is not the 64 octets of an Ed25519 signature".to_owned()
        })?;
        let key = ed25519::public_key(&tbs.subject_public_key_info).map_err(|e| e.describe())?;

        let serial_octets = tbs.serial_number.as_bytes();
        if serial_octets.first().is_some_and(|first| first & 0x80 != 0) {
            return Err("its serial number is negative".to_owned());
        }
        let serial = Serial::from_bytes(serial_octets).ok_or_else(|| {
            "its serial number is zero or longer than 20 octets (RFC 5280 §4.1.2.2)".to_owned()
        })?;

        // The decoder has accepted the whole certificate, so these splits succeed.
        let split_error = |_| "its TBSCertificate cannot be split into its fields".to_owned();
        let tbs_der = asn1::sequence_elements(&der)
            .map_err(split_error)?
            .first()
            .copied()
            .ok_or_else(|| "it has no TBSCertificate".to_owned())?
            .to_vec();
        let tbs_parts = asn1::sequence_elements(&tbs_der).map_err(split_error)?;
        // version [0], serialNumber, signature, issuer, validity, subject, …
        let name_der = |index: usize| {
            tbs_parts
                .get(index)
                .map(|part| part.to_vec())
                .ok_or_else(|| "its TBSCertificate is too short".to_owned())
        };
        let issuer_der = name_der(3)?;
        let subject_der = name_der(5)?;

        let (key_usage, basic_constraints) = read_extensions(&cert)?;
        Ok(CertFields {
            issuer: tbs.issuer.clone(),
            subject: tbs.subject.clone(),
            serial,
            not_before: asn1::unix_time(tbs.validity.not_before),
            not_after: asn1::unix_time(tbs.validity.not_after),
            key,
            signature,
            key_usage,
            basic_constraints,
            tbs_der,
            issuer_der,
            subject_der,
            der,
        })
    }
}

/// keyUsage bits and basicConstraints `(cA, path length content octets)`, each if present.
type ExtensionValues = (Option<u16>, Option<(bool, Option<Vec<u8>>)>);

/// KeyUsage and BasicConstraints, each critical if present (§7.1.1.2); other extensions must
/// be non-critical (§7.1.1.1); none twice (RFC 5280 §4.2).
fn read_extensions(cert: &Certificate) -> Result<ExtensionValues, String> {
    let extensions = cert
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    let mut key_usage = None;
    let mut basic_constraints = None;
    for (index, extension) in extensions.iter().enumerate() {
        let id = extension.extn_id;
        if extensions[..index].iter().any(|e| e.extn_id == id) {
            return Err(format!(
                "its extension {} appears more than once",
                asn1::describe_oid(&id)
            ));
        }
        let value = extension.extn_value.as_bytes();
        let not_critical = |name: &str| {
            format!("its {name} extension is not marked critical, which §7.1.1.2 requires")
        };
        match id {
            asn1::KEY_USAGE => {
                if !extension.critical {
                    return Err(not_critical("keyUsage"));
                }
                key_usage = Some(asn1::key_usage_extension(value).map_err(str::to_owned)?);
            }
            asn1::BASIC_CONSTRAINTS => {
                if !extension.critical {
                    return Err(not_critical("basicConstraints"));
                }
                let bc = asn1::basic_constraints_extension(value).map_err(str::to_owned)?;
                basic_constraints = Some((bc.ca, bc.path_len.map(<[u8]>::to_vec)));
            }
            _ if extension.critical => {
                return Err(format!(
                    "it has the critical extension {}, which polyproto does not define; \
                     additional extensions must be non-critical (§7.1.1.1)",
                    asn1::describe_oid(&id)
                ))
            }
            _ => {}
        }
    }
    Ok((key_usage, basic_constraints))
}

/// Text input (PEM `CERTIFICATE` or bare base64) to DER; errors as the end of a sentence.
fn certificate_der(input: &str) -> Result<Vec<u8>, String> {
    if input.len() > MAX_INPUT_LEN {
        return Err(format!("it is longer than {MAX_INPUT_LEN} characters"));
    }
    text::decode_text(input, &["CERTIFICATE"]).map_err(|e| match e {
        TextError::Encoding(reason) => format!("it is not PEM or base64-encoded DER: {reason}"),
        TextError::WrongLabel(label) => {
            format!("the PEM label is \"{label}\"; a certificate is labelled \"CERTIFICATE\"")
        }
    })
}

/// An actor ID-Cert received from elsewhere, parsed and checked for §7.1 structure.
///
/// Being an `ActorCert` says nothing about trust: check it with
/// [`ActorCert::check_validity`], [`ActorCert::check_domains`] and
/// [`ActorCert::verify_issued_by`].
#[derive(Clone)]
pub struct ActorCert {
    fields: CertFields,
    fid: FederationId,
    session_id: SessionId,
    issuer_domain: DomainName,
    subject_domain: DomainName,
    public_key: [u8; 32],
}

impl fmt::Debug for ActorCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorCert")
            .field("fid", &self.fid.to_string())
            .field("session_id", &self.session_id.as_str())
            .field("issuer_domain", &self.issuer_domain.as_str())
            .field("serial", &self.fields.serial)
            .field("not_before", &self.fields.not_before)
            .field("not_after", &self.fields.not_after)
            .finish_non_exhaustive()
    }
}

/// Reads an actor's ID-Cert: a PEM block labelled `CERTIFICATE`, or the base64 of the DER
/// without armour. Line breaks (LF or CRLF) and surrounding whitespace are ignored. Never
/// panics, whatever the input.
///
/// It must be a well-formed actor ID-Cert (§7.1.1), else [`ForeignCertError::Malformed`]:
///
/// * X.509 v3; signature algorithm Ed25519 (outer and in the TBSCertificate, no parameters),
///   a 64-octet signature; the key Ed25519, 32 octets, not a weak point;
/// * serial number positive and at most 20 octets;
/// * subject: exactly one UID that is a federation ID; exactly one CN, that federation ID or
///   its actor name (ASCII case-insensitively); at least one DC, each one domain label;
///   exactly one uniqueIdentifier that is a session ID. Values may be UTF8String,
///   PrintableString or IA5String;
/// * issuer: at least one DC, each one domain label, and no UID;
/// * KeyUsage present and critical, with digitalSignature or contentCommitment and without
///   keyCertSign; BasicConstraints, if present, critical and CA:FALSE; no other critical
///   extension, no extension twice.
///
/// Both DER and polyproto 0.8.0's encodings of the two extensions are read (see `asn1.rs`).
/// Validity, domains and the issuer's signature are not checked here.
pub fn parse_actor_cert(input: &str) -> Result<ActorCert, ForeignCertError> {
    let der = certificate_der(input).map_err(ForeignCertError::Malformed)?;
    ActorCert::from_der(der).map_err(ForeignCertError::Malformed)
}

impl ActorCert {
    fn from_der(der: Vec<u8>) -> Result<ActorCert, String> {
        let fields = CertFields::read(der)?;
        let subject = NameAttributes::read(&fields.subject);

        let fid: FederationId = match names::one(&subject.user_ids) {
            One::Text(uid) => uid.parse().map_err(|_| {
                format!(
                    "its subject's UID \"{}\" is not a federation ID (actor@domain, §5)",
                    printable_prefix(uid)
                )
            })?,
            other => {
                return Err(format!(
                    "its subject must have exactly one UID, the actor's federation ID; {}",
                    other.found()
                ))
            }
        };
        match names::one(&subject.common_names) {
            One::Text(cn) if names::common_name_matches(cn, &fid) => {}
            other => {
                return Err(format!(
                    "its subject must have exactly one common name (CN), \"{}\" or \"{fid}\" as \
                     its UID says; {}",
                    fid.actor,
                    other.found()
                ))
            }
        }
        let subject_domain = names::components_domain(&subject.domain_components)
            .map_err(|e| format!("its subject's domain components: {e}"))?;
        let session_id: SessionId = match names::one(&subject.unique_identifiers) {
            One::Text(id) => id.parse().map_err(|_| {
                format!(
                    "{SESSION_ID_EXPECTED}; \"{}\" ({} characters) is not one",
                    printable_prefix(id),
                    id.chars().count()
                )
            })?,
            other => return Err(format!("{SESSION_ID_EXPECTED}; {}", other.found())),
        };

        let issuer = NameAttributes::read(&fields.issuer);
        let issuer_domain = names::components_domain(&issuer.domain_components)
            .map_err(|e| format!("its issuer's domain components: {e}"))?;
        if !issuer.user_ids.is_empty() {
            return Err(
                "its issuer has a UID, so it names an actor, not a home server; only home \
                 servers issue ID-Certs"
                    .to_owned(),
            );
        }

        if let Some((true, _)) = fields.basic_constraints {
            return Err(
                "it is a CA certificate (basicConstraints CA:TRUE); an actor's ID-Cert must not \
                 be (§7.1.1.2)"
                    .to_owned(),
            );
        }
        let bits = fields.key_usage.ok_or_else(|| {
            "it has no keyUsage extension; an actor's ID-Cert needs digitalSignature or \
             contentCommitment (§7.1.1.2)"
                .to_owned()
        })?;
        if bits & ku::KEY_CERT_SIGN != 0 {
            return Err(format!(
                "its key usage is {}; keyCertSign is only for home server certificates (§7.1.1.2)",
                ku::describe(bits)
            ));
        }
        if bits & (ku::DIGITAL_SIGNATURE | ku::CONTENT_COMMITMENT) == 0 {
            return Err(format!(
                "its key usage is {}; an actor's ID-Cert needs digitalSignature or \
                 contentCommitment (§7.1.1.2)",
                ku::describe(bits)
            ));
        }

        let public_key = fields.key.to_bytes();
        Ok(ActorCert {
            fields,
            fid,
            session_id,
            issuer_domain,
            subject_domain,
            public_key,
        })
    }

    /// The actor, from the subject's UID.
    pub fn fid(&self) -> &FederationId {
        &self.fid
    }

    /// The session ID, from the subject's uniqueIdentifier.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// The issuer's domain components joined with '.', in DER order: the home server that
    /// claims to have issued the certificate.
    pub fn issuer_domain(&self) -> &DomainName {
        &self.issuer_domain
    }

    pub fn serial(&self) -> &Serial {
        &self.fields.serial
    }

    /// Start of the validity, UNIX seconds.
    pub fn not_before(&self) -> u64 {
        self.fields.not_before
    }

    /// End of the validity (included), UNIX seconds.
    pub fn not_after(&self) -> u64 {
        self.fields.not_after
    }

    /// The actor's Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The certificate, DER, exactly as received.
    pub fn der(&self) -> &[u8] {
        &self.fields.der
    }

    /// The certificate as `-----BEGIN CERTIFICATE-----` PEM, LF line endings.
    pub fn pem(&self) -> String {
        text::pem_encode("CERTIFICATE", &self.fields.der)
    }

    /// Whether the certificate is valid at `now` (UNIX seconds): notBefore ≤ now ≤ notAfter,
    /// both ends included as in X.509. Else [`ForeignCertError::OutsideValidity`].
    pub fn check_validity(&self, now: u64) -> Result<(), ForeignCertError> {
        let (not_before, not_after) = (self.fields.not_before, self.fields.not_after);
        if now < not_before || now > not_after {
            return Err(ForeignCertError::OutsideValidity {
                now,
                not_before,
                not_after,
            });
        }
        Ok(())
    }

    /// Whether the issuer's DC domain is the domain of the UID, and the subject's DCs spell
    /// the same domain (§7.1.1.1). Else [`ForeignCertError::DomainMismatch`].
    pub fn check_domains(&self) -> Result<(), ForeignCertError> {
        if self.issuer_domain != self.fid.domain || self.subject_domain != self.issuer_domain {
            return Err(ForeignCertError::DomainMismatch {
                issuer_domain: self.issuer_domain.clone(),
                uid_domain: self.fid.domain.clone(),
                subject_domain: self.subject_domain.clone(),
            });
        }
        Ok(())
    }

    /// Whether `root` issued this certificate: the issuer name is `root`'s subject byte for
    /// byte, the signature over the TBSCertificate as received verifies strictly (§7.2.1: no
    /// malleable signatures) under `root`'s key, and the certificate's validity lies within
    /// `root`'s (§7.1: a home server issues no ID-Cert that outlives its own certificate).
    /// Else [`ForeignCertError::NotSignedByHomeServer`].
    pub fn verify_issued_by(&self, root: &RootCert) -> Result<(), ForeignCertError> {
        if self.fields.issuer_der != root.fields.subject_der {
            return Err(ForeignCertError::NotSignedByHomeServer(format!(
                "its issuer name ({}) is not, byte for byte, the subject name of the home \
                 server's certificate ({})",
                printable_prefix(&self.fields.issuer.to_string()),
                printable_prefix(&root.fields.subject.to_string())
            )));
        }
        if !ed25519::verify_strict(
            &root.fields.key,
            &self.fields.tbs_der,
            &self.fields.signature,
        ) {
            return Err(ForeignCertError::NotSignedByHomeServer(
                "its signature does not verify (strictly, §7.2.1) under the home server \
                 certificate's Ed25519 key"
                    .to_owned(),
            ));
        }
        let (inner, outer) = (&self.fields, &root.fields);
        if inner.not_before < outer.not_before || inner.not_after > outer.not_after {
            return Err(ForeignCertError::NotSignedByHomeServer(format!(
                "its validity ({} to {}) is not within the validity of the home server \
                 certificate that signed it ({} to {}), which §7.1 demands",
                time(inner.not_before),
                time(inner.not_after),
                time(outer.not_before),
                time(outer.not_after)
            )));
        }
        Ok(())
    }

    /// Whether `signature` is a strictly valid (§7.2.1) Ed25519 signature of `message` under
    /// the certificate's key: 64 octets, canonical S, R not of small order. Else
    /// [`ForeignCertError::ChallengeSignatureInvalid`].
    pub fn verify_signature(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), ForeignCertError> {
        let signature = ed25519::signature_from_slice(signature)
            .ok_or(ForeignCertError::ChallengeSignatureInvalid)?;
        if !ed25519::verify_strict(&self.fields.key, message, &signature) {
            return Err(ForeignCertError::ChallengeSignatureInvalid);
        }
        Ok(())
    }
}

/// A home server's root ID-Cert, as fetched from `GET /p2core/key/server`.
#[derive(Clone)]
pub struct RootCert {
    fields: CertFields,
    domain: DomainName,
    public_key: [u8; 32],
}

impl fmt::Debug for RootCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCert")
            .field("domain", &self.domain.as_str())
            .field("serial", &self.fields.serial)
            .field("not_before", &self.fields.not_before)
            .field("not_after", &self.fields.not_after)
            .finish_non_exhaustive()
    }
}

/// Reads a home server's root certificate: a PEM block labelled `CERTIFICATE`, or bare
/// base64 DER, as [`parse_actor_cert`] does. Never panics.
///
/// It must be a root ID-Cert (§7.1.1), else [`ForeignCertError::RootMalformed`]: X.509 v3,
/// Ed25519 throughout, a positive serial of at most 20 octets; BasicConstraints critical,
/// CA:TRUE, with a path length constraint present and 0; KeyUsage critical with keyCertSign;
/// no other critical extension; a subject without CN and with at least one DC, each one
/// domain label; issuer equal to the subject byte for byte; a self-signature that verifies
/// strictly. Its validity is not checked here: see [`RootCert::not_before`] and
/// [`RootCert::not_after`].
pub fn parse_root_cert(input: &str) -> Result<RootCert, ForeignCertError> {
    let der = certificate_der(input).map_err(ForeignCertError::RootMalformed)?;
    RootCert::from_der(der).map_err(ForeignCertError::RootMalformed)
}

impl RootCert {
    /// [`parse_root_cert`] for DER; the error is the end of a sentence about the certificate.
    pub(crate) fn from_der(der: Vec<u8>) -> Result<RootCert, String> {
        let fields = CertFields::read(der)?;
        match &fields.basic_constraints {
            None => {
                return Err(
                    "it has no basicConstraints extension; a root certificate is CA:TRUE with \
                     path length 0 (§7.1.1.2)"
                        .to_owned(),
                )
            }
            Some((false, _)) => {
                return Err(
                    "it is not a CA certificate (basicConstraints CA:FALSE); a root certificate \
                     is CA:TRUE with path length 0 (§7.1.1.2)"
                        .to_owned(),
                )
            }
            Some((true, None)) => {
                return Err(
                    "its basicConstraints has no path length constraint; a root certificate's \
                     must be present and 0 (§7.1.1.2)"
                        .to_owned(),
                )
            }
            Some((true, Some(path_len))) => {
                if asn1::uint_value(path_len) != Some(0) {
                    return Err(format!(
                        "its basicConstraints path length is {}; a root certificate's must be 0 \
                         (§7.1.1.2)",
                        asn1::uint_value(path_len)
                            .map_or_else(|| "negative or huge".to_owned(), |n| n.to_string())
                    ));
                }
            }
        }
        match fields.key_usage {
            Some(bits) if bits & ku::KEY_CERT_SIGN != 0 => {}
            Some(bits) => {
                return Err(format!(
                    "its key usage is {}; a root certificate needs keyCertSign (§7.1.1.2)",
                    ku::describe(bits)
                ))
            }
            None => {
                return Err(
                    "it has no keyUsage extension; a root certificate needs keyCertSign \
                     (§7.1.1.2)"
                        .to_owned(),
                )
            }
        }
        let subject = NameAttributes::read(&fields.subject);
        if !subject.common_names.is_empty() {
            return Err(
                "its subject has a common name (CN), which a home server's certificate must not \
                 have (§7.1.1.1)"
                    .to_owned(),
            );
        }
        let domain = names::components_domain(&subject.domain_components)
            .map_err(|e| format!("its subject's domain components: {e}"))?;
        if fields.issuer_der != fields.subject_der {
            return Err(
                "it is not self-signed: its issuer name is not its subject name byte for byte"
                    .to_owned(),
            );
        }
        if !ed25519::verify_strict(&fields.key, &fields.tbs_der, &fields.signature) {
            return Err(
                "its self-signature does not verify (strictly, §7.2.1) under its own key"
                    .to_owned(),
            );
        }
        let public_key = fields.key.to_bytes();
        Ok(RootCert {
            fields,
            domain,
            public_key,
        })
    }

    /// The home server's domain, from the subject's domain components in DER order.
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    /// Start of the validity, UNIX seconds.
    pub fn not_before(&self) -> u64 {
        self.fields.not_before
    }

    /// End of the validity (included), UNIX seconds.
    pub fn not_after(&self) -> u64 {
        self.fields.not_after
    }

    /// The home server's Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The certificate's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.fields.der
    }

    pub(crate) fn serial(&self) -> &Serial {
        &self.fields.serial
    }

    pub(crate) fn subject(&self) -> &Name {
        &self.fields.subject
    }
}
