//! Home sessions: `POST /p2core/session/trust` (open), `POST /p2core/session/idcert` (rotate the
//! ID-Cert, §7.1.3), `PUT /p2core/session/revoke` (end one's own session) and
//! `DELETE /p2core/session?session_id=` (early revocation of any of the actor's sessions, §7.1.4).

use actix_web::{web, HttpRequest, HttpResponse};
use polyhome_certs::{parse_actor_cert, parse_csr, Serial, ValidatedCsr};
use polyhome_proto::{
    ActorName, ErrorCode, FederationId, RotateRequest, SessionId, TrustRequest, TrustResponse,
};
use polyhome_store::{Conflict, NewSession, StoreError};
use serde::Deserialize;

use crate::auth::{
    auth_payload_of, check_second_factor, new_token, sensitive_solution, token_hash, Authenticated,
    Caller,
};
use crate::{unix_now, ApiError, AppState};

/// How often a fresh serial is drawn when a random one collides with an existing one.
const SERIAL_ATTEMPTS: usize = 3;

/// Checks the actor's password and the ID-CSR, signs the ID-Cert, stores it with a new session
/// token, and only then answers.
pub(crate) async fn trust(
    state: web::Data<AppState>,
    body: web::Json<TrustRequest>,
) -> Result<HttpResponse, ApiError> {
    let TrustRequest {
        actor_name,
        csr,
        auth_payload,
    } = body.into_inner();
    // A name that cannot exist gets the same answer as an unknown one.
    let name: Option<ActorName> = actor_name.parse().ok();

    let _permit = state.hashing_permit().await?;
    let s = state.clone();
    let response = web::block(move || -> Result<TrustResponse, ApiError> {
        let actor = match &name {
            Some(name) => s.store.actor(name.as_str())?,
            None => None,
        };
        let hash = actor.as_ref().map(|a| a.password_hash.as_str());
        if !s.settings.passwords.verify(&auth_payload.password, hash) {
            return Err(ApiError::unauthorized());
        }
        let fid = FederationId::new(
            name.expect("an actor was found under this name"),
            s.domain().clone(),
        );
        let csr = check_csr(&csr, &fid)?;
        issue_and_store(&s, &fid, &csr, |new| {
            s.store.create_session(new).map(|()| true)
        })
    })
    .await??;
    Ok(HttpResponse::Created().json(response))
}

/// Replaces the ID-Cert of the caller's session with one for the CSR's new key. The old
/// certificate stays in history but is no longer the session's; the old token dies.
pub(crate) async fn rotate(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: HttpRequest,
    body: web::Json<RotateRequest>,
) -> Result<HttpResponse, ApiError> {
    let session = auth.home()?;
    let RotateRequest { csr, auth_payload } = body.into_inner();
    let password = sensitive_solution(&req, auth_payload)?;

    let _permit = state.hashing_permit().await?;
    let s = state.clone();
    let response = web::block(move || -> Result<TrustResponse, ApiError> {
        if s.settings.rotation_requires_password {
            check_second_factor(&s, &session.actor_name, password.as_deref())?;
        }
        let fid = home_fid(&s, &session.actor_name)?;
        let csr = check_csr(&csr, &fid)?;
        if csr.session_id.as_str() != session.session_id {
            return Err(ApiError::new(
                ErrorCode::CsrSessionIdMismatch,
                format!(
                    "the CSR is for session {:?}, the token for session {:?}",
                    csr.session_id.as_str(),
                    session.session_id
                ),
            ));
        }
        let history = s
            .store
            .session_history(&session.actor_name, &session.session_id)?;
        let reused = history
            .iter()
            .filter_map(|pem| parse_actor_cert(pem).ok())
            .any(|cert| cert.public_key() == csr.public_key());
        if reused {
            return Err(ApiError::new(
                ErrorCode::CsrKeyNotNew,
                "rotation is to a new key pair (§7.1.3): this session has had an ID-Cert for \
                 the CSR's key before",
            ));
        }
        issue_and_store(&s, &fid, &csr, |new| {
            s.store.rotate_session(&session.serial, new)
        })
    })
    .await??;
    Ok(HttpResponse::Created().json(response))
}

/// Ends the session of the bearer token: the token stops working and, for a home session, the
/// session ID is free again.
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let s = state.clone();
    let now = unix_now() as i64;
    let revoked = web::block(move || match &auth.0 {
        Caller::Home(session) => {
            let done = s.store.revoke_session(&session.serial, now)?;
            tracing::info!(actor = %session.actor_name, serial = %session.serial, "session revoked");
            Ok::<_, ApiError>(done)
        }
        Caller::Foreign(session) => {
            let done = s.store.revoke_foreign_session(&session.id, now)?;
            tracing::info!(fid = %session.fid, "foreign session revoked");
            Ok(done)
        }
    })
    .await??;
    if !revoked {
        // Revoked by a concurrent request between authentication and now.
        return Err(ApiError::unauthorized());
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub(crate) struct SessionQuery {
    session_id: String,
}

/// Revokes the ID-Cert of one of the caller's sessions, and with it that session and its token
/// (§7.1.4). The same route serves home and foreign sessions, as §7.1.4 says. On the home server
/// it is a sensitive action and the password is required; a foreign server holds no second
/// factor of the actor's, so there the session token is enough, and only the actor's sessions
/// on this server end.
pub(crate) async fn delete(
    state: web::Data<AppState>,
    auth: Authenticated,
    req: HttpRequest,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target: SessionId = query
        .session_id
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, format!("session_id: {e}")))?;
    let not_found = |target: &SessionId| {
        ApiError::new(
            ErrorCode::SessionNotFound,
            format!("no active session {:?}", target.as_str()),
        )
    };
    let session = match auth.0 {
        Caller::Home(session) => session,
        Caller::Foreign(session) => {
            let s = state.clone();
            let fid = session.fid.clone();
            let sid = target.clone();
            let ended = web::block(move || {
                s.store
                    .revoke_foreign_session_id(&fid, sid.as_str(), unix_now() as i64)
            })
            .await??;
            if !ended {
                return Err(not_found(&target));
            }
            tracing::info!(fid = %session.fid, session_id = ?target.as_str(), "foreign session's ID-Cert revoked early");
            return Ok(HttpResponse::NoContent().finish());
        }
    };
    let password = sensitive_solution(&req, auth_payload_of(&body)?)?;

    let _permit = state.hashing_permit().await?;
    let s = state.clone();
    web::block(move || {
        check_second_factor(&s, &session.actor_name, password.as_deref())?;
        if !s
            .store
            .revoke_session_id(&session.actor_name, target.as_str(), unix_now() as i64)?
        {
            return Err(not_found(&target));
        }
        tracing::info!(actor = %session.actor_name, session_id = ?target.as_str(), "ID-Cert revoked early");
        Ok(())
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

fn home_fid(state: &AppState, actor: &str) -> Result<FederationId, ApiError> {
    let name: ActorName = actor.parse().map_err(ApiError::internal)?;
    Ok(FederationId::new(name, state.domain().clone()))
}

fn check_csr(csr: &str, fid: &FederationId) -> Result<ValidatedCsr, ApiError> {
    parse_csr(csr)
        .and_then(|parsed| parsed.validate(fid))
        .map_err(|e| ApiError::new(e.code(), e.to_string()))
}

/// Signs an ID-Cert for `csr` with the current identity key and stores it with a new token
/// through `store` (which answers false if the session it replaces is gone). A serial that is
/// taken already is drawn again.
fn issue_and_store(
    state: &AppState,
    fid: &FederationId,
    csr: &ValidatedCsr,
    store: impl Fn(&NewSession<'_>) -> Result<bool, StoreError>,
) -> Result<TrustResponse, ApiError> {
    let now = unix_now();
    let current = state.signing_identity(now)?;
    let token = new_token();
    let hash = token_hash(&token);
    for _ in 0..SERIAL_ATTEMPTS {
        let cert = current
            .identity
            .issue(
                csr,
                Serial::random(),
                now,
                now.saturating_add(state.settings.cert_lifetime_secs),
            )
            .map_err(ApiError::internal)?;
        let serial = cert.serial.to_hex();
        let stored = store(&NewSession {
            serial: &serial,
            actor_name: fid.actor.as_str(),
            session_id: csr.session_id.as_str(),
            cert_pem: &cert.pem,
            not_before: cert.not_before as i64,
            not_after: cert.not_after as i64,
            issued_at: now as i64,
            token_hash: &hash,
        });
        match stored {
            Ok(true) => {
                tracing::info!(%fid, session_id = ?csr.session_id.as_str(), %serial, "ID-Cert issued");
                return Ok(TrustResponse {
                    id_cert: cert.pem,
                    token,
                });
            }
            // The session this certificate was to replace ended meanwhile.
            Ok(false) => return Err(ApiError::unauthorized()),
            Err(StoreError::Conflict(Conflict::ActiveSessionId)) => {
                return Err(ApiError::new(
                    ErrorCode::SessionIdInUse,
                    format!(
                    "{fid} has an active session with session ID {:?}; choose another or revoke it",
                    csr.session_id.as_str()
                ),
                ))
            }
            Err(StoreError::Conflict(Conflict::Serial)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "could not draw an unused certificate serial number",
    ))
}
