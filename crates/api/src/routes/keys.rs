//! `GET /p2core/key/server` and `GET /p2core/key/actor/{fid}` (api-core-no-registration-needed.md).

use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use polyhome_proto::{ActorKeysQuery, ErrorCode, FederationId, ServerKeyQuery, SessionId};

use crate::{params, unix_now, ApiError, AppState};

/// The server's root ID-Cert as a JSON string of PEM; with `timestamp`, the one valid then.
pub(crate) async fn server_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let query: ServerKeyQuery = params::read(&req, &body)?;
    let Some(at) = query.timestamp else {
        // The common case answers from memory.
        let body = state.identity().cert_json.clone();
        return Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body));
    };
    let at = to_db_time(at)?;
    let s = state.clone();
    let pem = web::block(move || s.store.server_cert_at(at)).await??;
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
    if fid.domain != state.domain {
        return Err(not_here());
    }
    let session_id = match query.session_id {
        Some(s) => Some(
            s.parse::<SessionId>()
                .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("{e}")))?,
        ),
        None => None,
    };
    let at = to_db_time(query.timestamp.unwrap_or_else(unix_now))?;
    let (s, actor) = (state.clone(), fid.actor.to_string());
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
