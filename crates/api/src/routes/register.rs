//! `POST /p2core/register` (auth.md §1.1, api-auth-no-registration-needed.md).

use actix_web::{web, HttpResponse};
use polyhome_proto::{ActorName, ErrorCode, FederationId, RegisterRequest, RegisterResponse};
use polyhome_store::{Conflict, StoreError};

use crate::auth::check_password_shape;
use crate::{unix_now, ApiError, AppState};

pub(crate) async fn register(
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let RegisterRequest {
        actor_name,
        auth_payload,
    } = body.into_inner();
    let name: ActorName = actor_name
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::InvalidActorName, format!("{e}")))?;
    check_password_shape(&auth_payload.password)?;
    let fid = FederationId::new(name, state.domain().clone());
    let taken = || {
        ApiError::new(
            ErrorCode::FederationIdTaken,
            format!("{fid} is already registered"),
        )
    };

    // Spare the password hash when the name is plainly taken; the insert settles races.
    let (s, actor) = (state.clone(), fid.actor.to_string());
    if web::block(move || s.store.actor(&actor)).await??.is_some() {
        return Err(taken());
    }

    let _permit = state.hashing_permit().await?;
    let (s, actor) = (state.clone(), fid.actor.to_string());
    let created = web::block(move || -> Result<Result<(), StoreError>, ApiError> {
        let hash = s.settings.passwords.hash(&auth_payload.password)?;
        Ok(s.store.create_actor(&actor, &hash, unix_now() as i64))
    })
    .await??;
    match created {
        Ok(()) => {
            tracing::info!(%fid, "actor registered");
            Ok(HttpResponse::Created().json(RegisterResponse {
                fid: fid.to_string(),
            }))
        }
        Err(StoreError::Conflict(Conflict::ActorName)) => Err(taken()),
        Err(e) => Err(e.into()),
    }
}
