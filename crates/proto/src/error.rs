//! Error codes and the error body every refusal carries.
//!
//! The spec names a few codes (`P2CORE_FEDERATION_ID_TAKEN`, `P2CORE_NOT_ADMINISTRATOR`,
//! `P2CORE_NOT_FEDERATED`); the rest follow the same `P2CORE_` pattern. `docs/errors.md` lists
//! them all, with the situations that produce them.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($status:literal, $name:literal), )*) => {
        /// Every error polyhome answers with. `status()` is the HTTP status and the `errcode`
        /// field; `as_str()` is the `error` field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// All codes, in the order of `docs/errors.md`.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            pub fn from_name(name: &str) -> Option<ErrorCode> {
                match name { $($name => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON, lacks a field, or has a field of the wrong type.
    InvalidBody = (400, "P2CORE_INVALID_BODY"),
    /// The body is larger than the server's configured limit.
    BodyTooLarge = (413, "P2CORE_BODY_TOO_LARGE"),
    /// A body was sent with a content type other than `application/json`.
    UnsupportedMediaType = (415, "P2CORE_UNSUPPORTED_MEDIA_TYPE"),
    /// A query parameter or path segment could not be read.
    InvalidParameter = (400, "P2CORE_INVALID_PARAMETER"),
    /// The actor name does not fit the federation ID pattern or length limit.
    InvalidActorName = (400, "P2CORE_INVALID_ACTOR_NAME"),
    /// The password is missing, empty or too long.
    InvalidPassword = (400, "P2CORE_INVALID_PASSWORD"),
    /// The actor name is taken on this server, compared case-insensitively.
    FederationIdTaken = (409, "P2CORE_FEDERATION_ID_TAKEN"),
    /// Unknown actor, wrong password, or a missing, unknown or revoked session token.
    Unauthorized = (401, "P2CORE_UNAUTHORIZED"),
    /// The `csr` field is not a PEM or DER PKCS #10 certificate signing request.
    CsrMalformed = (400, "P2CORE_CSR_MALFORMED"),
    /// The CSR's self-signature does not verify (strictly) under its own public key.
    CsrSignatureInvalid = (400, "P2CORE_CSR_SIGNATURE_INVALID"),
    /// The CSR's key is not Ed25519, or is a weak Ed25519 key.
    UnsupportedKeyAlgorithm = (400, "P2CORE_UNSUPPORTED_KEY_ALGORITHM"),
    /// The subject lacks exactly one common name equal to the actor name or federation ID.
    CsrCommonNameMismatch = (400, "P2CORE_CSR_COMMON_NAME_MISMATCH"),
    /// The subject's DC components are not this server's domain, in order.
    CsrDomainMismatch = (400, "P2CORE_CSR_DOMAIN_MISMATCH"),
    /// The subject's UID is missing, repeated, or not the authenticated actor's federation ID.
    CsrFederationIdMismatch = (400, "P2CORE_CSR_FEDERATION_ID_MISMATCH"),
    /// The subject's uniqueIdentifier is missing, repeated, or not a valid session ID.
    CsrSessionIdInvalid = (400, "P2CORE_CSR_SESSION_ID_INVALID"),
    /// The requested key usage lacks digitalSignature and contentCommitment, or has keyCertSign.
    CsrKeyUsageInvalid = (400, "P2CORE_CSR_KEY_USAGE_INVALID"),
    /// The CSR asks for a CA certificate.
    CsrCaRequested = (400, "P2CORE_CSR_CA_REQUESTED"),
    /// Another active session of this actor already holds that session ID.
    SessionIdInUse = (409, "P2CORE_SESSION_ID_IN_USE"),
    /// The rotation CSR names a different session ID than the session it is sent for.
    CsrSessionIdMismatch = (400, "P2CORE_CSR_SESSION_ID_MISMATCH"),
    /// A rotation CSR carries a key the session has had an ID-Cert for before (§7.1.3 rotates
    /// to a new key pair).
    CsrKeyNotNew = (400, "P2CORE_CSR_KEY_NOT_NEW"),
    /// A sensitive action (§4.1.2) lacks its second factor, the password, or the password is wrong.
    SecondFactorRequired = (403, "P2CORE_SECOND_FACTOR_REQUIRED"),
    /// The actor has no active session with that session ID.
    SessionNotFound = (404, "P2CORE_SESSION_NOT_FOUND"),
    /// The route is for sessions opened on this home server, not for foreign ones.
    NotHomeSession = (403, "P2CORE_NOT_HOME_SESSION"),
    /// The route is for sessions of foreign actors, not for this server's own.
    NotForeignSession = (403, "P2CORE_NOT_FOREIGN_SESSION"),
    /// This server never issued the challenge string.
    ChallengeUnknown = (401, "P2CORE_CHALLENGE_UNKNOWN"),
    /// The challenge string's lifetime is over.
    ChallengeExpired = (401, "P2CORE_CHALLENGE_EXPIRED"),
    /// The challenge string was used before; each is good for one attempt.
    ChallengeUsed = (401, "P2CORE_CHALLENGE_USED"),
    /// The signature of the challenge does not verify (strictly) under the ID-Cert's key.
    ChallengeSignatureInvalid = (401, "P2CORE_CHALLENGE_SIGNATURE_INVALID"),
    /// The ID-Cert is not a well-formed actor ID-Cert (§7.1).
    IdCertMalformed = (400, "P2CORE_ID_CERT_MALFORMED"),
    /// The ID-Cert is not valid at this time.
    IdCertOutsideValidity = (401, "P2CORE_ID_CERT_OUTSIDE_VALIDITY"),
    /// The ID-Cert's issuer DC domain differs from the domain of its UID.
    IdCertDomainMismatch = (400, "P2CORE_ID_CERT_DOMAIN_MISMATCH"),
    /// The ID-Cert's signature does not verify under its home server's certificate.
    IdCertNotSignedByHomeServer = (401, "P2CORE_ID_CERT_NOT_SIGNED_BY_HOME_SERVER"),
    /// The home server does not list the ID-Cert as the valid one of its session (revoked or replaced).
    IdCertRevoked = (401, "P2CORE_ID_CERT_REVOKED"),
    /// The actor's home server could not be reached or gave an unusable answer.
    HomeServerUnreachable = (502, "P2CORE_HOME_SERVER_UNREACHABLE"),
    /// The actor's home server did not answer within the configured timeout.
    HomeServerTimeout = (504, "P2CORE_HOME_SERVER_TIMEOUT"),
    /// The actor is not registered on this server.
    ActorNotFound = (404, "P2CORE_ACTOR_NOT_FOUND"),
    /// No certificate matches the request (for example, a timestamp before the first one).
    CertificateNotFound = (404, "P2CORE_CERTIFICATE_NOT_FOUND"),
    /// The authenticated actor is not an administrator of this server.
    NotAdministrator = (403, "P2CORE_NOT_ADMINISTRATOR"),
    /// The requested server does not exist or is not federated.
    NotFederated = (404, "P2CORE_NOT_FEDERATED"),
    /// No route has this path.
    NotFound = (404, "P2CORE_NOT_FOUND"),
    /// The route exists but not with this method; the `Allow` header lists the methods it takes.
    MethodNotAllowed = (405, "P2CORE_METHOD_NOT_ALLOWED"),
    /// The request body was not fully received within the server's `request_timeout_secs`.
    RequestTimeout = (408, "P2CORE_REQUEST_TIMEOUT"),
    /// As many challenges as `challenges.max_outstanding` are handed out, unused and unexpired.
    TooManyChallenges = (429, "P2CORE_TOO_MANY_CHALLENGES"),
    /// Something failed inside the server; the log says what.
    Internal = (500, "P2CORE_INTERNAL_ERROR"),
    /// The server is overloaded or its database is unreachable; try again later.
    Unavailable = (503, "P2CORE_UNAVAILABLE"),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response: `{"errcode": 409, "error": "P2CORE_…", "message": "…"}`.
///
/// `errcode` and `error` are the spec's; `message` is polyhome's addition, a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errcode: u16,
    pub error: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            errcode: code.status(),
            error: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// The code named by `error`, if it is one polyhome knows.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_name(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_prefixed() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("P2CORE_")));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(*code));
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn docs_list_every_code() {
        let docs = include_str!("../../../docs/errors.md");
        for code in ErrorCode::ALL {
            let row = format!("| {} | `{}` |", code.status(), code.as_str());
            assert!(
                docs.contains(&row),
                "docs/errors.md lacks the row for {code}"
            );
        }
    }

    #[test]
    fn body_has_the_spec_fields() {
        let body = serde_json::to_value(ErrorBody::new(ErrorCode::FederationIdTaken, "")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errcode": 409, "error": "P2CORE_FEDERATION_ID_TAKEN"})
        );
    }
}
