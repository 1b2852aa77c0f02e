//! Passwords, session tokens, and the bearer-token extractor.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use polyhome_proto::ErrorCode;
use polyhome_proto::{AuthPayload, SensitiveActionBody};
use polyhome_store::{ForeignSession, Session};
use ring::rand::SecureRandom;

use crate::{unix_now, ApiError, AppState};

/// The longest password accepted, in bytes. Longer ones are refused rather than truncated.
pub const PASSWORD_MAX_LEN: usize = 1024;

/// The most memory one password hash may take, KiB.
pub const MEMORY_KIB_MAX: u32 = 1024 * 1024;
/// Most passes over the memory accepted in `password_hashing.iterations`.
pub const ITERATIONS_MAX: u32 = 64;
/// Most lanes accepted in `password_hashing.parallelism`.
pub const PARALLELISM_MAX: u32 = 64;

/// argon2id settings, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct PasswordHashing {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    /// OWASP's first argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        PasswordHashing {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a random password, verified against when the actor does not exist, so that
    /// unknown names and wrong passwords take the same time.
    dummy_hash: String,
}

impl Passwords {
    pub fn new(settings: PasswordHashing) -> Result<Self, String> {
        // Every hash takes this much memory while it runs: a typo here should not take the
        // machine's.
        if settings.memory_kib > MEMORY_KIB_MAX {
            return Err(format!(
                "password_hashing.memory_kib is {}; at most {MEMORY_KIB_MAX} (1 GiB) is accepted",
                settings.memory_kib
            ));
        }
        // Hashes run one lane at a time here, and every login waits for all the passes.
        if !(1..=ITERATIONS_MAX).contains(&settings.iterations) {
            return Err(format!(
                "password_hashing.iterations is {}; 1 to {ITERATIONS_MAX} are accepted",
                settings.iterations
            ));
        }
        if !(1..=PARALLELISM_MAX).contains(&settings.parallelism) {
            return Err(format!(
                "password_hashing.parallelism is {}; 1 to {PARALLELISM_MAX} are accepted",
                settings.parallelism
            ));
        }
        if settings.memory_kib < 8 * settings.parallelism {
            return Err(format!(
                "password_hashing.memory_kib is {}; argon2 needs at least 8 KiB per lane, {} \
                 for parallelism {}",
                settings.memory_kib,
                8 * settings.parallelism,
                settings.parallelism
            ));
        }
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| format!("invalid password hashing parameters: {e}"))?;
        let mut passwords = Passwords {
            params,
            dummy_hash: String::new(),
        };
        passwords.dummy_hash = passwords.hash(&new_token()).map_err(|e| e.to_string())?;
        Ok(passwords)
    }

    fn argon2(&self) -> Argon2<'_> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, ApiError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    }

    /// True if `password` matches `phc`; with `None`, checks against a dummy hash and is false.
    /// The hash's own parameters are used, so hashes made under older settings still verify.
    pub fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        let Ok(parsed) = PasswordHash::new(phc.unwrap_or(&self.dummy_hash)) else {
            return false;
        };
        let ok = self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && phc.is_some()
    }
}

/// Refuses empty and overlong passwords.
pub fn check_password_shape(password: &str) -> Result<(), ApiError> {
    if password.is_empty() || password.len() > PASSWORD_MAX_LEN {
        return Err(ApiError::new(
            ErrorCode::InvalidPassword,
            format!("the password must be 1 to {PASSWORD_MAX_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A new session token: 256 random bits, base64url without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Who the request's `Authorization: Bearer` token belongs to.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A session of an actor registered here, opened with `session/trust`.
    Home(Session),
    /// A session of an actor of another home server, opened with `session/identify`.
    Foreign(ForeignSession),
}

/// The session of the request's bearer token. Refuses with 401 otherwise.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl Authenticated {
    /// The home session, or 403 for a foreign one.
    pub fn home(self) -> Result<Session, ApiError> {
        match self.0 {
            Caller::Home(session) => Ok(session),
            Caller::Foreign(session) => Err(ApiError::new(
                ErrorCode::NotHomeSession,
                format!(
                    "{} is not an actor of this server; this route is for home sessions",
                    session.fid
                ),
            )),
        }
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = token.ok_or_else(ApiError::unauthorized)?;
            let hash = token_hash(&token);
            let lookup = hash.clone();
            let caller = web::block(move || -> Result<Option<(Caller, String)>, ApiError> {
                // A session ends when its ID-Cert expires.
                let now = unix_now() as i64;
                if let Some(s) = state.store.session_by_token_hash(&lookup)? {
                    let stored = s.token_hash.clone();
                    return Ok((s.not_after >= now).then_some((Caller::Home(s), stored)));
                }
                Ok(state
                    .store
                    .foreign_session_by_token_hash(&lookup)?
                    .filter(|s| s.cert_not_after >= now)
                    .map(|s| {
                        let stored = s.token_hash.clone().unwrap_or_default();
                        (Caller::Foreign(s), stored)
                    }))
            })
            .await??;
            match caller {
                // The lookup is by hash; comparing again in constant time keeps the check
                // independent of how the database compares strings.
                Some((caller, stored)) if hashes_equal(&stored, &hash) => Ok(Authenticated(caller)),
                _ => Err(ApiError::unauthorized()),
            }
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 9110 §11.1).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The second factor of a sensitive action (§4.1.2): the password, from the
/// `X-P2-Sensitive-Solution` header (the later spec's name; its bytes read as UTF-8, so that
/// passwords beyond ASCII work) or the body's `auth_payload`. 400 for a header that is not UTF-8.
pub fn sensitive_solution(
    req: &HttpRequest,
    auth_payload: Option<AuthPayload>,
) -> Result<Option<String>, ApiError> {
    match req.headers().get("x-p2-sensitive-solution") {
        Some(value) => std::str::from_utf8(value.as_bytes())
            .map(|password| Some(password.to_owned()))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    "the X-P2-Sensitive-Solution header is not UTF-8 text",
                )
            }),
        None => Ok(auth_payload.map(|a| a.password)),
    }
}

/// The `auth_payload` of a route whose JSON body, optional, carries nothing else (as the later
/// spec's sensitive actions without a body of their own take it). None for an empty body.
pub fn auth_payload_of(body: &[u8]) -> Result<Option<AuthPayload>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice::<SensitiveActionBody>(body)
        .map(|b| b.auth_payload)
        .map_err(|e| ApiError::invalid_json(&e))
}

/// Checks the second factor of a sensitive action for `actor`: 403 if it is missing or wrong.
/// Runs password hashing; call it on the blocking pool.
pub fn check_second_factor(
    state: &AppState,
    actor: &str,
    password: Option<&str>,
) -> Result<(), ApiError> {
    let refused = |why: &str| {
        ApiError::new(
            ErrorCode::SecondFactorRequired,
            format!("this is a sensitive action: {why}"),
        )
    };
    let password = password.ok_or_else(|| {
        refused(
            "send the password in the X-P2-Sensitive-Solution header (routes with a JSON body \
             also take it as auth_payload.password)",
        )
    })?;
    let stored = state.store.actor(actor)?;
    if state
        .settings
        .passwords
        .verify(password, stored.as_ref().map(|a| a.password_hash.as_str()))
    {
        Ok(())
    } else {
        Err(refused("the password is wrong"))
    }
}

fn hashes_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn passwords_verify() {
        let p = Passwords::new(PasswordHashing {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let h = p.hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(p.verify("correct horse", Some(&h)));
        assert!(!p.verify("wrong", Some(&h)));
        assert!(!p.verify("correct horse", None));
        assert!(!p.verify("x", Some("not a hash")));
    }

    #[test]
    fn password_hashing_memory_is_bounded() {
        let with_memory = |memory_kib| {
            Passwords::new(PasswordHashing {
                memory_kib,
                iterations: 1,
                parallelism: 1,
            })
        };
        let err = with_memory(MEMORY_KIB_MAX + 1).err().unwrap();
        assert!(err.contains("at most 1048576"), "{err}");
        assert!(with_memory(0).is_err());
    }

    #[test]
    fn password_hashing_parameters_are_bounded_and_named() {
        let with = |memory_kib, iterations, parallelism| {
            Passwords::new(PasswordHashing {
                memory_kib,
                iterations,
                parallelism,
            })
            .err()
        };
        let refused = [
            (with(64, 0, 1), "password_hashing.iterations"),
            (with(64, u32::MAX, 1), "password_hashing.iterations"),
            (with(64, 1, 0), "password_hashing.parallelism"),
            (with(1_000_000, 1, 100_000), "password_hashing.parallelism"),
            (with(64, 1, 16), "password_hashing.memory_kib"),
        ];
        for (err, key) in refused {
            let err = err.expect(key);
            assert!(err.contains(key), "{err}");
        }
        assert!(with(128, ITERATIONS_MAX, 16).is_none());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("bearer\tabc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer  "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(hashes_equal("abc", "abc"));
        assert!(!hashes_equal("abc", "abd"));
        assert!(!hashes_equal("abc", "ab"));
    }
}
