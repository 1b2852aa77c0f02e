//! Request and response bodies of the routes polyhome serves.

use serde::{Deserialize, Deserializer, Serialize};

/// polyhome's `auth_payload`: the actor's password.
///
/// The spec leaves `auth_payload` to implementations and types it as a JSON object; the polyproto
/// library of May 2024 sends it as a string holding JSON. Both are accepted.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AuthPayload {
    pub password: String,
}

impl std::fmt::Debug for AuthPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthPayload")
            .field("password", &"<redacted>")
            .finish()
    }
}

impl<'de> Deserialize<'de> for AuthPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            password: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Object(Object),
            Text(String),
        }
        let object = match Either::deserialize(deserializer)? {
            Either::Object(object) => object,
            // The error names no part of the text: it holds the password.
            Either::Text(text) => serde_json::from_str::<Object>(&text).map_err(|_| {
                serde::de::Error::custom(
                    "auth_payload string is not a JSON object with a password string",
                )
            })?,
        };
        Ok(AuthPayload {
            password: object.password,
        })
    }
}

/// The optional JSON body of a sensitive action that has no other body
/// (`DELETE /p2core/session`, `PUT /p2core/key/server`): the password as second factor, for
/// clients that cannot put it in the `X-P2-Sensitive-Solution` header.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SensitiveActionBody {
    #[serde(default)]
    pub auth_payload: Option<AuthPayload>,
}

/// `POST /p2core/register`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub actor_name: String,
    pub auth_payload: AuthPayload,
}

/// 201 answer to `POST /p2core/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub fid: String,
}

/// `POST /p2core/session/trust`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustRequest {
    pub actor_name: String,
    /// PEM (or base64 DER) PKCS #10 ID-CSR.
    pub csr: String,
    pub auth_payload: AuthPayload,
}

/// 201 answer to `POST /p2core/session/trust`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustResponse {
    /// The new ID-Cert, PEM.
    pub id_cert: String,
    /// The session token, valid for this ID-Cert only.
    pub token: String,
}

/// `POST /p2core/session/idcert`: a CSR with a new key for the caller's session. The password,
/// the second factor of this sensitive action, may come here or in `X-P2-Sensitive-Solution`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotateRequest {
    pub csr: String,
    #[serde(default)]
    pub auth_payload: Option<AuthPayload>,
}

/// 200 answer to `GET /p2core/challenge` (core §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// 32 to 256 characters of `[A-Za-z0-9]`.
    pub challenge: String,
    /// UNIX time in seconds after which the challenge is refused.
    pub expires: u64,
}

/// A challenge string and the actor's signature over its UTF-8 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedChallenge {
    pub challenge: String,
    /// The Ed25519 signature, hex or base64 (standard or URL-safe alphabet, padded or not).
    pub signature: String,
}

/// `POST /p2core/session/identify`. The completed challenge is read under the name of the
/// spec's example (`completed_challenge`), of its table (`challenge`), or of the polyproto
/// library of May 2024 (`challenge_signature`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentifyRequest {
    #[serde(alias = "challenge", alias = "challenge_signature")]
    pub completed_challenge: CompletedChallenge,
    /// The actor's ID-Cert, PEM.
    pub id_cert: String,
    /// Not used by polyhome; accepted as object or string.
    #[serde(default)]
    pub auth_payload: Option<serde_json::Value>,
}

/// 201 answer to `POST /p2core/session/identify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifyResponse {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// `POST /p2core/session/idcert/extern`: the session's new ID-Cert, as the spec's bare JSON
/// string of PEM or as `{"id_cert": PEM}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExternIdCert {
    Pem(String),
    Object { id_cert: String },
}

impl ExternIdCert {
    pub fn pem(&self) -> &str {
        match self {
            ExternIdCert::Pem(pem) | ExternIdCert::Object { id_cert: pem } => pem,
        }
    }
}

/// 201 answer to `POST /p2core/session/idcert/extern`: the session's new token; the old one
/// stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternIdCertResponse {
    pub token: String,
}

/// Optional parameters of `GET /p2core/key/server`, as query or JSON body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerKeyQuery {
    /// UNIX time in seconds: the certificate valid then.
    #[serde(default, deserialize_with = "timestamp::deserialize")]
    pub timestamp: Option<u64>,
}

/// Optional parameters of `GET /p2core/key/actor/{fid}`, as query or JSON body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorKeysQuery {
    /// UNIX time in seconds: only certificates valid then.
    #[serde(default, deserialize_with = "timestamp::deserialize")]
    pub timestamp: Option<u64>,
    /// Only certificates of this session.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// The spec writes timestamps as strings (`"1620000000"`) in bodies and as integers elsewhere;
/// both are read.
mod timestamp {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Option::<Either>::deserialize(d)? {
            None => Ok(None),
            Some(Either::Number(n)) => Ok(Some(n)),
            Some(Either::Text(t)) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom("timestamp must be UNIX seconds")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_payload_is_read_as_object_or_string() {
        let a: AuthPayload = serde_json::from_str(r#"{"password":"pw"}"#).unwrap();
        let b: AuthPayload = serde_json::from_str(r#""{\"password\":\"pw\"}""#).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<AuthPayload>(r#""not json""#).is_err());
        assert!(serde_json::from_str::<AuthPayload>(r#"{"password":1}"#).is_err());
    }

    #[test]
    fn timestamps_are_read_as_number_or_string() {
        let q: ServerKeyQuery = serde_json::from_str(r#"{"timestamp":"1620000000"}"#).unwrap();
        assert_eq!(q.timestamp, Some(1_620_000_000));
        let q: ServerKeyQuery = serde_json::from_str(r#"{"timestamp":5}"#).unwrap();
        assert_eq!(q.timestamp, Some(5));
        assert_eq!(
            serde_json::from_str::<ServerKeyQuery>("{}")
                .unwrap()
                .timestamp,
            None
        );
        assert!(serde_json::from_str::<ServerKeyQuery>(r#"{"timestamp":"x"}"#).is_err());
    }

    #[test]
    fn identify_takes_all_three_names() {
        for name in ["completed_challenge", "challenge", "challenge_signature"] {
            let body =
                format!(r#"{{"{name}": {{"challenge": "c", "signature": "s"}}, "id_cert": "p"}}"#);
            let req: IdentifyRequest = serde_json::from_str(&body).unwrap();
            assert_eq!(req.completed_challenge.challenge, "c");
        }
        let e: ExternIdCert = serde_json::from_str(r#""PEM""#).unwrap();
        assert_eq!(e.pem(), "PEM");
        let e: ExternIdCert = serde_json::from_str(r#"{"id_cert": "PEM"}"#).unwrap();
        assert_eq!(e.pem(), "PEM");
    }

    #[test]
    fn debug_hides_the_password() {
        let a = AuthPayload {
            password: "hunter2".into(),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
