//! `GET /p2core/key/server` and `GET /p2core/key/actor/{fid}` (api-core-no-registration-needed.md).

use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use polyhome_proto::{ActorKeysQuery, ErrorCode, FederationId, ServerKeyQuery, SessionId};

use crate::auth::{auth_payload_of, check_second_factor, sensitive_solution, Authenticated};
use crate::{params, unix_now, ApiError, AppState};

/// The server's root ID-Cert as a JSON string of PEM; with `timestamp`, the one valid then.
pub(crate) async fn server_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let query: ServerKeyQuery = params::read(&req, &body)?;
    let Some(at) = query.timestamp else {
        // Answered from memory, which `keep_identity_current` keeps in step with the database.
        // A certificate found expired here (before that loop replaced it) is replaced now.
        let now = unix_now();
        let mut current = state.identity();
        if current.identity.not_after() <= now {
            let s = state.clone();
            current = web::block(move || s.signing_identity(now)).await??;
        }
        let body = current.cert_json.clone();
        return Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body));
    };
    let at = to_db_time(at)?;
    let now = unix_now();
    let s = state.clone();
    let pem = web::block(move || {
        // A time after the certificate in memory expired, up to now, belongs to its successor:
        // make sure there is one before looking.
        if at >= s.identity().identity.not_after() as i64 && at <= now as i64 {
            s.signing_identity(now)?;
        }
        s.store.server_cert_at(at).map_err(ApiError::from)
    })
    .await??;
    let pem = pem.ok_or_else(|| {
        ApiError::new(
            ErrorCode::CertificateNotFound,
            format!("this server had no certificate valid at {at}"),
        )
    })?;
    Ok(HttpResponse::Ok().json(pem))
}

/// The actor's ID-Certs valid at `timestamp` (default: now), optionally of one `session_id`.
pub(crate) async fn actor_keys(
    state: web::Data<AppState>,
    fid: web::Path<String>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let query: ActorKeysQuery = params::read(&req, &body)?;
    let fid: FederationId = fid
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("{e}")))?;
    let not_here = || {
        ApiError::new(
            ErrorCode::ActorNotFound,
            format!("{fid} is not registered on this server"),
        )
    };
    if &fid.domain != state.domain() {
        return Err(not_here());
    }
    let session_id = match query.session_id {
        Some(s) => Some(
            s.parse::<SessionId>()
                .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("{e}")))?,
        ),
        None => None,
    };
    let actor = fid.actor.to_string();
    let sid = session_id.as_ref().map(SessionId::as_str);
    if query.timestamp.is_none() {
        // Now: from memory when the actor's certificates are there, else loaded into it.
        let now = to_db_time(unix_now())?;
        let current = match state.store.cached_certs(&actor, now) {
            Some(current) => current,
            None => {
                let s = state.clone();
                let actor = actor.clone();
                web::block(move || s.store.current_certs(&actor, now))
                    .await??
                    .ok_or_else(not_here)?
            }
        };
        let certs: Vec<&str> = current.valid_at(now, sid).collect();
        return Ok(HttpResponse::Ok().json(certs));
    }
    let at = to_db_time(query.timestamp.unwrap_or_else(unix_now))?;
    let s = state.clone();
    let certs = web::block(move || -> Result<Option<Vec<String>>, ApiError> {
        if s.store.actor(&actor)?.is_none() {
            return Ok(None);
        }
        Ok(Some(s.store.actor_certs_at(
            &actor,
            at,
            session_id.as_ref().map(SessionId::as_str),
        )?))
    })
    .await??;
    let certs = certs.ok_or_else(not_here)?;
    Ok(HttpResponse::Ok().json(certs))
}

/// Timestamps are stored as signed 64-bit seconds.
fn to_db_time(at: u64) -> Result<i64, ApiError> {
    i64::try_from(at)
        .map_err(|_| ApiError::new(ErrorCode::InvalidParameter, "timestamp out of range"))
}

/// Replaces the server's identity key and root certificate (administrators only; a sensitive
/// action, so the password is required too). Certificates issued before stay verifiable: the
/// old root certificate is kept and served for timestamps in its time.
pub(crate) async fn rotate_server_key(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let session = auth.home()?;
    let password = sensitive_solution(&req, auth_payload_of(&body)?)?;
    let permit = state.hashing_permit().await?;
    let s = state.clone();
    let by = session.actor_name.clone();
    web::block(move || -> Result<(), ApiError> {
        let actor = s
            .store
            .actor(&session.actor_name)?
            .ok_or_else(ApiError::unauthorized)?;
        if !actor.is_admin {
            return Err(ApiError::new(
                ErrorCode::NotAdministrator,
                format!(
                    "{} is not an administrator of this server",
                    session.actor_name
                ),
            ));
        }
        check_second_factor(&s, &session.actor_name, password.as_deref())
    })
    .await??;
    drop(permit);
    let s = state.clone();
    let rotated = web::block(move || s.rotate_identity()).await??;
    tracing::warn!(%by, serial = %rotated.identity.serial().to_hex(), "server identity key rotated");
    Ok(HttpResponse::Ok().json(rotated.identity.cert_pem()))
}
