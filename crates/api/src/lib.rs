//! polyhome's HTTP API: the `/p2core/` routes as actix-web handlers.
//!
//! Handlers parse and check input, call `polyhome_certs` for certificate work and
//! `polyhome_store` (on the blocking pool) for persistence, and answer with JSON. Every refusal
//! is an [`ApiError`], answered as `{"errcode", "error", "message"}`.

mod auth;
mod error;
mod federation;
pub mod identity;
mod params;
mod routes;

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use polyhome_certs::ServerIdentity;
use polyhome_proto::{DomainName, ErrorCode};
use polyhome_store::Store;

pub use auth::{PasswordHashing, Passwords, PASSWORD_MAX_LEN};
pub use error::{protocol_error_bodies, within_deadline, ApiError};
pub use federation::{Federation, FederationSettings};

/// Settings of the API, from the server's configuration.
pub struct Settings {
    /// The domain this server is home to.
    pub domain: DomainName,
    pub passwords: Passwords,
    /// Lifetime of issued ID-Certs, seconds (cut short by the server certificate's expiry).
    pub cert_lifetime_secs: u64,
    /// Lifetime of a new server root certificate, seconds (for key rotation).
    pub server_cert_lifetime_secs: u64,
    pub challenges: ChallengeSettings,
    pub federation: Federation,
    /// Whether rotating an ID-Cert needs the password (§4.1.2); revoking one always does.
    pub rotation_requires_password: bool,
}

/// Challenge strings (core §4.2), from the `[challenges]` configuration table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ChallengeSettings {
    /// Characters per challenge, 32 to 256.
    pub length: usize,
    /// Seconds a challenge may be used after it was handed out.
    pub lifetime_secs: u64,
    /// Most challenges handed out and neither used nor expired at one time; more are refused
    /// (429) until some are used or expire. Bounds what anonymous callers can make the server
    /// store.
    pub max_outstanding: u64,
}

impl Default for ChallengeSettings {
    fn default() -> Self {
        ChallengeSettings {
            length: 64,
            lifetime_secs: 300,
            max_outstanding: 100_000,
        }
    }
}

/// What the handlers share.
pub struct AppState {
    pub store: Store,
    pub settings: Settings,
    identity: RwLock<Arc<CurrentIdentity>>,
    /// Held while an expired identity key is replaced, so that it is replaced once.
    renewing: std::sync::Mutex<()>,
    /// Bounds how many password hashes run at once (one per core), so that a burst of logins
    /// queues instead of taking memory-hard hashes' memory many times over.
    hashing: tokio::sync::Semaphore,
}

/// The identity key that signs now, with its certificate pre-encoded for `GET /p2core/key/server`.
pub struct CurrentIdentity {
    pub identity: ServerIdentity,
    cert_json: Bytes,
}

impl AppState {
    pub fn new(store: Store, settings: Settings, identity: ServerIdentity) -> Self {
        AppState {
            store,
            settings,
            identity: RwLock::new(Arc::new(CurrentIdentity::new(identity))),
            renewing: std::sync::Mutex::new(()),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            ),
        }
    }

    /// Waits for a turn to hash a password; hold the permit while hashing.
    pub(crate) async fn hashing_permit(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.hashing.acquire().await.map_err(ApiError::internal)
    }

    /// The identity key that signs now.
    pub fn identity(&self) -> Arc<CurrentIdentity> {
        self.identity
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The identity key that signs at `now`: the database's newest (another process sharing
    /// the database may have rotated it), or, once its certificate has expired, a new one
    /// (stored first). Blocks on the database; call it on the blocking pool.
    pub fn signing_identity(&self, now: u64) -> Result<Arc<CurrentIdentity>, ApiError> {
        self.follow_database()?;
        let current = self.identity();
        if current.identity.not_after() > now {
            return Ok(current);
        }
        let _turn = self.renewing.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.identity();
        if current.identity.not_after() > now {
            return Ok(current);
        }
        let renewed = identity::load_or_create(
            &self.store,
            self.domain(),
            self.settings.server_cert_lifetime_secs,
            now,
        )
        .map_err(ApiError::internal)?;
        self.replace_identity(renewed);
        Ok(self.identity())
    }

    /// Takes up the database's newest identity key if it is not the one in memory.
    pub(crate) fn follow_database(&self) -> Result<(), ApiError> {
        let newest = self.store.current_server_key_serial()?;
        let is_current = |serial: &Option<String>| {
            serial
                .as_deref()
                .is_none_or(|s| s == self.identity().identity.serial().to_hex())
        };
        if is_current(&newest) {
            return Ok(());
        }
        let _turn = self.renewing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(identity) =
            identity::load_newest(&self.store, self.domain()).map_err(ApiError::internal)?
        {
            if identity.serial() != self.identity().identity.serial() {
                tracing::info!(serial = %identity.serial().to_hex(), "taking up the identity key another process made");
                self.replace_identity(identity);
            }
        }
        Ok(())
    }

    /// Replaces the identity key before its time (an administrator's `PUT /p2core/key/server`):
    /// a new key, stored, that signs from now on. Blocks on the database, and for up to about a
    /// second more (see `identity::create`); call it on the blocking pool.
    pub(crate) fn rotate_identity(&self) -> Result<Arc<CurrentIdentity>, ApiError> {
        let _turn = self.renewing.lock().unwrap_or_else(|e| e.into_inner());
        let rotated = identity::rotate(
            &self.store,
            self.domain(),
            self.settings.server_cert_lifetime_secs,
        )
        .map_err(ApiError::internal)?;
        self.replace_identity(rotated);
        Ok(self.identity())
    }

    /// Makes `identity` the one that signs from now on.
    pub(crate) fn replace_identity(&self, identity: ServerIdentity) {
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(CurrentIdentity::new(identity));
    }

    pub fn domain(&self) -> &DomainName {
        &self.settings.domain
    }
}

impl CurrentIdentity {
    fn new(identity: ServerIdentity) -> Self {
        let cert_json =
            Bytes::from(serde_json::to_vec(identity.cert_pem()).expect("a string serializes"));
        CurrentIdentity {
            identity,
            cert_json,
        }
    }
}

/// Keeps the identity key in memory current for as long as the server runs: once a second it
/// takes up a key that another process sharing the database made, and replaces a key whose
/// certificate has expired, so that `GET /p2core/key/server`, served from memory, is at most
/// about a second behind. The work runs on the blocking pool: a slow or unreachable database
/// holds up this loop (which logs why) and no request.
pub async fn keep_identity_current(state: web::Data<AppState>) {
    let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
    every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every_second.tick().await;
        let s = state.clone();
        // Failures are logged where they happen (`ApiError` from the store); the next tick
        // tries again.
        let _ = actix_web::rt::task::spawn_blocking(move || s.signing_identity(unix_now())).await;
    }
}

/// Seconds since the UNIX epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Registers the routes, the JSON error handlers and the JSON 404/405 answers on an app.
/// `body_limit` is the largest request body accepted, in bytes.
pub fn configure(
    state: web::Data<AppState>,
    body_limit: usize,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(error::json_error),
            )
            .app_data(web::PayloadConfig::default().limit(body_limit))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .configure(routes::configure)
            .default_service(web::to(not_found));
    }
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// The answer to a known path with a method it does not take; `allow` lists the ones it does.
pub(crate) fn method_not_allowed(
    allow: &'static str,
) -> impl Fn(HttpRequest) -> std::future::Ready<HttpResponse> + Clone {
    move |req: HttpRequest| {
        let err = ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!(
                "{} does not take {}; it takes {allow}",
                req.path(),
                req.method()
            ),
        );
        let mut response = actix_web::ResponseError::error_response(&err);
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        std::future::ready(response)
    }
}
