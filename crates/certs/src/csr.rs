//! Reading and checking ID-CSRs (§7.1, §7.1.1).

use der::asn1::AnyRef;
use der::{Decode, Encode, Tag, Tagged};
use ed25519_dalek::VerifyingKey;
use polyhome_proto::{ErrorCode, FederationId, SessionId};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::CertReq;
use x509_cert::Certificate;

use crate::asn1::{self, ku};
use crate::ed25519::{self, AlgorithmError, KeyError};
use crate::names::{self, NameAttributes, One, SESSION_ID_EXPECTED};
use crate::text::{self, printable_prefix, TextError};

/// The longest CSR text `parse_csr` looks at. An Ed25519 ID-CSR is well under a kilobyte.
const MAX_INPUT_LEN: usize = 64 * 1024;

/// The PEM labels an ID-CSR may carry: RFC 7468's, and the older one some tools still write.
const PEM_LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// Why an ID-CSR was refused. [`CsrError::code`] gives the error code to answer with; the
/// `Display` text says what was wrong in a sentence meant for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    /// The text is neither a PEM block nor base64.
    #[error("the CSR is not PEM or base64-encoded DER: {0}")]
    Encoding(String),
    /// A PEM block with a label other than `CERTIFICATE REQUEST`.
    #[error("the PEM label is \"{label}\"; an ID-CSR is labelled \"CERTIFICATE REQUEST\"")]
    WrongPemLabel { label: String },
    /// An X.509 certificate where a CSR was expected.
    #[error("this is an X.509 certificate, not a PKCS #10 certificate signing request")]
    IsCertificate,
    /// A PKCS #10 version other than v1 (0).
    #[error("the CSR has PKCS #10 version {0}; only version 0 (v1) exists")]
    UnsupportedVersion(String),
    /// The bytes are not a DER PKCS #10 CertificationRequest.
    #[error("the CSR is not a DER-encoded PKCS #10 CertificationRequest: {0}")]
    Der(String),
    /// Decodable, but some part is malformed or contradicts another.
    #[error("the CSR is malformed: {0}")]
    Malformed(String),
    /// The subject public key is not an Ed25519 key.
    #[error("only Ed25519 keys (OID 1.3.101.112) are accepted; this CSR's key is {found}")]
    KeyAlgorithm { found: String },
    /// An Ed25519 key that is not a valid encoded curve point.
    #[error("only Ed25519 keys (OID 1.3.101.112) are accepted, and this CSR's key is not a valid one: {0}")]
    InvalidPublicKey(String),
    /// A small-order Ed25519 key, under which signatures prove nothing.
    #[error("the CSR's Ed25519 key is a weak (small-order) point; only Ed25519 keys (OID 1.3.101.112) of full order are accepted")]
    WeakKey,
    /// The CSR is not signed with Ed25519. (The key has already been found to be Ed25519 at this
    /// point, so this is a signature that cannot be right, not an unsupported key.)
    #[error("the CSR is signed with {found}; an Ed25519 key's CSR must be signed with Ed25519 (OID 1.3.101.112)")]
    SignatureAlgorithm { found: String },
    /// The self-signature does not verify strictly under the CSR's key.
    #[error("the CSR's self-signature does not verify (strictly, §7.2.1) under its Ed25519 public key: {0}")]
    SignatureInvalid(&'static str),
    /// The subject's common name is missing, repeated or names someone else.
    #[error("{0}")]
    CommonName(String),
    /// The subject's domain components are not this server's domain.
    #[error("{0}")]
    Domain(String),
    /// The subject's UID is missing, repeated or another federation ID.
    #[error("{0}")]
    FederationId(String),
    /// The subject's uniqueIdentifier is missing, repeated or not a session ID.
    #[error("{0}")]
    SessionId(String),
    /// The requested key usage does not fit an actor's ID-Cert.
    #[error("{0}")]
    KeyUsage(String),
    /// The CSR asks for a CA certificate.
    #[error(
        "the CSR requests basicConstraints CA:TRUE; actors' ID-Certs are never CA certificates"
    )]
    CaRequested,
}

impl CsrError {
    /// The error code of this refusal.
    ///
    /// A signature algorithm other than Ed25519 is reported as `CsrSignatureInvalid`: the key
    /// has already been found to be Ed25519 then, and such a key can only make Ed25519
    /// signatures.
    pub fn code(&self) -> ErrorCode {
        match self {
            CsrError::Encoding(_)
            | CsrError::WrongPemLabel { .. }
            | CsrError::IsCertificate
            | CsrError::UnsupportedVersion(_)
            | CsrError::Der(_)
            | CsrError::Malformed(_) => ErrorCode::CsrMalformed,
            CsrError::KeyAlgorithm { .. } | CsrError::InvalidPublicKey(_) | CsrError::WeakKey => {
                ErrorCode::UnsupportedKeyAlgorithm
            }
            CsrError::SignatureAlgorithm { .. } | CsrError::SignatureInvalid(_) => {
                ErrorCode::CsrSignatureInvalid
            }
            CsrError::CommonName(_) => ErrorCode::CsrCommonNameMismatch,
            CsrError::Domain(_) => ErrorCode::CsrDomainMismatch,
            CsrError::FederationId(_) => ErrorCode::CsrFederationIdMismatch,
            CsrError::SessionId(_) => ErrorCode::CsrSessionIdInvalid,
            CsrError::KeyUsage(_) => ErrorCode::CsrKeyUsageInvalid,
            CsrError::CaRequested => ErrorCode::CsrCaRequested,
        }
    }
}

/// A decoded ID-CSR whose claims have not been checked yet; see [`ParsedCsr::validate`].
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    req: CertReq,
    /// The CertificationRequestInfo exactly as received: what the signature covers.
    info_der: Vec<u8>,
    /// The requested key usage bits (RFC 5280 numbering), from either style of request.
    key_usage: Option<u16>,
    /// The requested basicConstraints cA flag, from either style of request.
    ca: Option<bool>,
}

/// An ID-CSR whose every claim has been checked for one actor: what [`crate::ServerIdentity::issue`]
/// needs to sign an ID-Cert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedCsr {
    /// The session ID the CSR asks for (its subject's uniqueIdentifier).
    pub session_id: SessionId,
    pub(crate) subject: Name,
    pub(crate) subject_der: Vec<u8>,
    pub(crate) public_key: [u8; 32],
    /// Requested key usage bits that the ID-Cert will carry.
    pub(crate) key_usage: u16,
}

impl ValidatedCsr {
    /// The subject distinguished name, DER, byte for byte as in the CSR (and the ID-Cert).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The actor's Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The key usages the ID-Cert will carry, by their RFC 5280 names: `digitalSignature`
    /// and/or `contentCommitment`.
    pub fn key_usage(&self) -> Vec<&'static str> {
        (0..9)
            .filter(|n| self.key_usage & (1 << n) != 0)
            .map(|n| ku::NAMES[n])
            .collect()
    }
}

/// Reads an ID-CSR: a PEM block labelled `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`),
/// or the base64 of the DER without armour. Line breaks (LF or CRLF) and surrounding whitespace
/// are ignored. Only decoding happens here; [`ParsedCsr::validate`] checks the claims.
///
/// Key usage and basic constraints are read in both styles a client may use: OpenSSL's PKCS #9
/// extensionRequest attribute, and polyproto 0.8.0's plain CSR attributes with the extension
/// OIDs. Asking for either twice is refused as malformed.
///
/// Never panics, whatever the input.
pub fn parse_csr(input: &str) -> Result<ParsedCsr, CsrError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(CsrError::Encoding(format!(
            "it is longer than {MAX_INPUT_LEN} characters"
        )));
    }
    let der = decode_text(input)?;
    parse_csr_der(&der)
}

/// Reads an ID-CSR given as DER. See [`parse_csr`].
pub fn parse_csr_der(der: &[u8]) -> Result<ParsedCsr, CsrError> {
    let req = match CertReq::from_der(der) {
        Ok(req) => req,
        Err(e) => return Err(diagnose_undecodable(der, e)),
    };
    // The DER decoder has accepted the whole input, so this split cannot fail; it is still
    // handled rather than unwrapped.
    let split_error = |e: der::Error| CsrError::Der(e.to_string());
    let parts = asn1::sequence_elements(der).map_err(split_error)?;
    let info_der = parts
        .first()
        .ok_or_else(|| CsrError::Der("empty CertificationRequest".to_owned()))?
        .to_vec();
    let info_parts = asn1::sequence_elements(&info_der).map_err(split_error)?;
    let subject_der = info_parts
        .get(1)
        .ok_or_else(|| CsrError::Der("CertificationRequestInfo has no subject".to_owned()))?;
    // The ID-Cert must carry the subject byte for byte. The decoder sorts SET OF elements, so a
    // subject that is not in DER order would come out re-encoded differently: refuse it.
    if req.info.subject.to_der().ok().as_deref() != Some(*subject_der) {
        return Err(CsrError::Malformed(
            "the subject name is not DER-encoded (attributes of a multi-valued RDN out of order)"
                .to_owned(),
        ));
    }
    names::check_well_formed(&req.info.subject, subject_der.len()).map_err(CsrError::Malformed)?;
    let (key_usage, ca) = read_capabilities(&req)?;
    Ok(ParsedCsr {
        req,
        info_der,
        key_usage,
        ca,
    })
}

/// Says why DER that is not a CertificationRequest is not one, as precisely as it can.
fn diagnose_undecodable(der: &[u8], error: der::Error) -> CsrError {
    if Certificate::from_der(der).is_ok() {
        return CsrError::IsCertificate;
    }
    let version = asn1::sequence_elements(der)
        .ok()
        .and_then(|parts| parts.first().copied())
        .and_then(|info| asn1::sequence_elements(info).ok())
        .and_then(|info_parts| info_parts.first().copied())
        .and_then(|version| AnyRef::from_der(version).ok())
        .filter(|version| version.tag() == Tag::Integer)
        .map(|version| version.value().to_vec());
    match version {
        Some(v) if v != [0] => CsrError::UnsupportedVersion(match *v.as_slice() {
            [n] if n < 0x80 => n.to_string(),
            _ => format!(
                "0x{}",
                v.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        }),
        _ => CsrError::Der(error.to_string()),
    }
}

/// PEM or bare base64 to DER.
fn decode_text(input: &str) -> Result<Vec<u8>, CsrError> {
    text::decode_text(input, &PEM_LABELS).map_err(|e| match e {
        TextError::Encoding(reason) => CsrError::Encoding(reason),
        TextError::WrongLabel(label) => CsrError::WrongPemLabel { label },
    })
}

/// Finds the requested key usage bits and cA flag in the CSR's attributes.
fn read_capabilities(req: &CertReq) -> Result<(Option<u16>, Option<bool>), CsrError> {
    let malformed = |what: &str| CsrError::Malformed(what.to_owned());
    let mut key_usage: Option<u16> = None;
    let mut ca: Option<bool> = None;
    let mut set_key_usage = |bits: u16| match key_usage.replace(bits) {
        None => Ok(()),
        Some(_) => Err(malformed("key usage is requested more than once")),
    };
    let mut set_ca = |value: bool| match ca.replace(value) {
        None => Ok(()),
        Some(_) => Err(malformed("basic constraints are requested more than once")),
    };
    let mut seen_extension_request = false;

    for attribute in req.info.attributes.iter() {
        let single_value = || match attribute.values.as_slice() {
            [value] => Ok(value),
            _ => Err(CsrError::Malformed(format!(
                "attribute {} must have exactly one value",
                asn1::describe_oid(&attribute.oid)
            ))),
        };
        match attribute.oid {
            // OpenSSL style: PKCS #9 extensionRequest holding X.509 Extensions.
            asn1::EXTENSION_REQUEST => {
                if seen_extension_request {
                    return Err(malformed("more than one extensionRequest attribute"));
                }
                seen_extension_request = true;
                let value = single_value()?;
                let extensions = value
                    .to_der()
                    .ok()
                    .and_then(|der| Vec::<Extension>::from_der(&der).ok())
                    .ok_or_else(|| malformed("extensionRequest does not hold X.509 Extensions"))?;
                for extension in &extensions {
                    let value = extension.extn_value.as_bytes();
                    match extension.extn_id {
                        asn1::KEY_USAGE => {
                            set_key_usage(asn1::key_usage_extension(value).map_err(malformed)?)?
                        }
                        asn1::BASIC_CONSTRAINTS => set_ca(
                            asn1::basic_constraints_extension(value)
                                .map_err(malformed)?
                                .ca,
                        )?,
                        // Other requested extensions are not copied into ID-Certs; ignore them.
                        _ => {}
                    }
                }
            }
            // polyproto 0.8.0 style: the extension's value directly as an attribute value.
            asn1::KEY_USAGE => {
                let value = single_value()?;
                if value.tag() != Tag::BitString {
                    return Err(malformed("the keyUsage attribute is not a BIT STRING"));
                }
                set_key_usage(asn1::decode_key_usage(value.value()).map_err(malformed)?)?;
            }
            asn1::BASIC_CONSTRAINTS => {
                let value = single_value()?;
                if value.tag() != Tag::Sequence {
                    return Err(malformed(
                        "the basicConstraints attribute is not a SEQUENCE",
                    ));
                }
                set_ca(asn1::decode_basic_constraints(value.value()).map_err(malformed)?)?;
            }
            // challengePassword and the like mean nothing to polyproto.
            _ => {}
        }
    }
    Ok((key_usage, ca))
}

impl ParsedCsr {
    /// The CSR's DER subject name.
    pub fn subject(&self) -> &Name {
        &self.req.info.subject
    }

    /// Checks every claim of the CSR for `actor`, an actor registered on this server (so
    /// `actor.domain` is the server's domain), in this order:
    ///
    /// 1. the key is Ed25519 and not weak (`UnsupportedKeyAlgorithm`);
    /// 2. the self-signature is Ed25519 and verifies strictly (`CsrSignatureInvalid`);
    /// 3. exactly one CN, equal to the actor name or the federation ID (`CsrCommonNameMismatch`);
    /// 4. the DC components, in DER order, are the domain's labels (`CsrDomainMismatch`);
    /// 5. exactly one UID, equal to the federation ID (`CsrFederationIdMismatch`);
    /// 6. exactly one uniqueIdentifier that is a session ID (`CsrSessionIdInvalid`);
    /// 7. key usage present, with digitalSignature or contentCommitment and without keyCertSign
    ///    (`CsrKeyUsageInvalid`);
    /// 8. not basicConstraints CA:TRUE (`CsrCaRequested`).
    ///
    /// Names are compared ASCII case-insensitively, as federation IDs are (§5). Attribute values
    /// may be UTF8String, PrintableString or IA5String.
    pub fn validate(&self, actor: &FederationId) -> Result<ValidatedCsr, CsrError> {
        let key = self.check_key()?;
        self.check_signature(&key)?;
        let subject = NameAttributes::read(&self.req.info.subject);
        check_common_name(&subject, actor)?;
        check_domain(&subject, actor)?;
        check_federation_id(&subject, actor)?;
        let session_id = check_session_id(&subject)?;
        let key_usage = self.check_capabilities()?;
        Ok(ValidatedCsr {
            session_id,
            subject: self.req.info.subject.clone(),
            subject_der: self.subject_der()?,
            public_key: key.to_bytes(),
            key_usage,
        })
    }

    fn subject_der(&self) -> Result<Vec<u8>, CsrError> {
        self.req
            .info
            .subject
            .to_der()
            .map_err(|e| CsrError::Der(e.to_string()))
    }

    fn check_key(&self) -> Result<VerifyingKey, CsrError> {
        ed25519::public_key(&self.req.info.public_key).map_err(|e| match e {
            KeyError::Algorithm(oid) => CsrError::KeyAlgorithm {
                found: asn1::describe_oid(&oid),
            },
            KeyError::Invalid(reason) => CsrError::InvalidPublicKey(reason),
            KeyError::Weak => CsrError::WeakKey,
        })
    }

    fn check_signature(&self, key: &VerifyingKey) -> Result<(), CsrError> {
        ed25519::check_algorithm(&self.req.algorithm).map_err(|e| match e {
            AlgorithmError::Other(oid) => CsrError::SignatureAlgorithm {
                found: asn1::describe_oid(&oid),
            },
            AlgorithmError::Parameters => CsrError::SignatureInvalid(
                "the Ed25519 signature algorithm identifier must have no parameters",
            ),
        })?;
        let signature = ed25519::signature(&self.req.signature).ok_or(
            CsrError::SignatureInvalid("an Ed25519 signature is 64 octets"),
        )?;
        if !ed25519::verify_strict(key, &self.info_der, &signature) {
            return Err(CsrError::SignatureInvalid("the signature does not match"));
        }
        Ok(())
    }

    fn check_capabilities(&self) -> Result<u16, CsrError> {
        const SIGNING: u16 = ku::DIGITAL_SIGNATURE | ku::CONTENT_COMMITMENT;
        let bits = self.key_usage.ok_or_else(|| {
            CsrError::KeyUsage(
                "the CSR requests no key usage; an ID-Cert needs digitalSignature or \
                 contentCommitment (§7.1.1.2)"
                    .to_owned(),
            )
        })?;
        if bits & ku::KEY_CERT_SIGN != 0 {
            return Err(CsrError::KeyUsage(format!(
                "the CSR requests key usage {}; keyCertSign is only for the home server's \
                 certificate (§7.1.1.2)",
                ku::describe(bits)
            )));
        }
        if bits & SIGNING == 0 {
            return Err(CsrError::KeyUsage(format!(
                "the CSR requests key usage {}; an ID-Cert needs digitalSignature or \
                 contentCommitment (§7.1.1.2)",
                ku::describe(bits)
            )));
        }
        if self.ca == Some(true) {
            return Err(CsrError::CaRequested);
        }
        // Only the signing bits go into the ID-Cert: the rest (keyEncipherment, keyAgreement,
        // cRLSign, …) cannot apply to an actor's Ed25519 key (RFC 8410 §5 allows Ed25519
        // certificates digitalSignature, nonRepudiation, keyCertSign and cRLSign only).
        Ok(bits & SIGNING)
    }
}

fn check_common_name(subject: &NameAttributes<'_>, actor: &FederationId) -> Result<(), CsrError> {
    let cn = names::one(&subject.common_names);
    match cn {
        One::Text(cn) if names::common_name_matches(cn, actor) => Ok(()),
        _ => Err(CsrError::CommonName(format!(
            "the subject must have exactly one common name (CN), \"{}\" or \"{actor}\"; {}",
            actor.actor,
            match cn {
                One::NotText => "its CN is not a UTF8String, PrintableString or IA5String".into(),
                other => other.found(),
            }
        ))),
    }
}

fn check_domain(subject: &NameAttributes<'_>, actor: &FederationId) -> Result<(), CsrError> {
    if names::components_are_domain(&subject.domain_components, &actor.domain) {
        return Ok(());
    }
    let wanted: Vec<String> = actor.domain.labels().map(|l| format!("DC={l}")).collect();
    Err(CsrError::Domain(format!(
        "the subject's domain components must be this server's domain {}, one per label in \
         order ({}); it has {}",
        actor.domain,
        wanted.join(", "),
        names::describe_components(&subject.domain_components)
    )))
}

fn check_federation_id(subject: &NameAttributes<'_>, actor: &FederationId) -> Result<(), CsrError> {
    let uid = names::one(&subject.user_ids);
    match uid {
        One::Text(uid) if uid.eq_ignore_ascii_case(&actor.to_string()) => Ok(()),
        _ => Err(CsrError::FederationId(format!(
            "the subject must have exactly one UID, \"{actor}\"; {}",
            match uid {
                One::NotText => "its UID is not a UTF8String, PrintableString or IA5String".into(),
                other => other.found(),
            }
        ))),
    }
}

fn check_session_id(subject: &NameAttributes<'_>) -> Result<SessionId, CsrError> {
    let found = match names::one(&subject.unique_identifiers) {
        One::Text(id) => match id.parse() {
            Ok(session_id) => return Ok(session_id),
            Err(_) => format!(
                "\"{}\" ({} characters) is not one",
                printable_prefix(id),
                id.chars().count()
            ),
        },
        other => other.found(),
    };
    Err(CsrError::SessionId(format!(
        "{SESSION_ID_EXPECTED}; {found}"
    )))
}
