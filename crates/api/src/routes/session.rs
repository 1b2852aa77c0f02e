//! `POST /p2core/session/trust` (api-auth-registration-needed.md) and
//! `PUT /p2core/session/revoke` (api-auth-no-registration-needed.md).

use actix_web::{web, HttpResponse};
use polyhome_certs::{parse_csr, Serial};
use polyhome_proto::{ActorName, ErrorCode, FederationId, TrustRequest, TrustResponse};
use polyhome_store::{Conflict, NewSession, StoreError};

use crate::auth::{new_token, token_hash, Authenticated};
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
        if !s.passwords.verify(&auth_payload.password, actor.as_ref().map(|a| a.password_hash.as_str())) {
            return Err(ApiError::unauthorized());
        }
        let name = name.expect("an actor was found under this name");
        let fid = FederationId::new(name, s.domain.clone());

        let csr = parse_csr(&csr)
            .and_then(|parsed| parsed.validate(&fid))
            .map_err(|e| ApiError::new(e.code(), e.to_string()))?;

        let current = s.identity();
        let now = unix_now();
        let token = new_token();
        let hash = token_hash(&token);
        for _ in 0..SERIAL_ATTEMPTS {
            let cert = current
                .identity
                .issue(&csr, Serial::random(), now, now.saturating_add(s.cert_lifetime_secs))
                .map_err(ApiError::internal)?;
            let serial = cert.serial.to_hex();
            let stored = s.store.create_session(&NewSession {
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
                Ok(()) => {
                    tracing::info!(%fid, session_id = %csr.session_id, %serial, "ID-Cert issued");
                    return Ok(TrustResponse { id_cert: cert.pem, token });
                }
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
        Err(ApiError::internal("could not draw an unused certificate serial number"))
    })
    .await??;
    Ok(HttpResponse::Created().json(response))
}

/// Ends the session of the bearer token: the token stops working and the session ID is free.
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let session = auth.0;
    let s = state.clone();
    let serial = session.serial.clone();
    let revoked = web::block(move || s.store.revoke_session(&serial, unix_now() as i64)).await??;
    if !revoked {
        // Revoked by a concurrent request between authentication and now.
        return Err(ApiError::unauthorized());
    }
    tracing::info!(actor = %session.actor_name, serial = %session.serial, "session revoked");
    Ok(HttpResponse::NoContent().finish())
}
