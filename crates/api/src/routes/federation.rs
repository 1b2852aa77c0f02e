//! A foreign server's side of federated identity (core §4.1.1, auth.md §1.3):
//! `GET /p2core/challenge`, `POST /p2core/session/identify` and
//! `POST /p2core/session/idcert/extern`.

use actix_web::{web, HttpResponse};
use base64::Engine;
use polyhome_certs::{parse_actor_cert, ActorCert};
use polyhome_proto::{
    ChallengeResponse, ErrorCode, ExternIdCert, ExternIdCertResponse, IdentifyRequest,
    IdentifyResponse,
};
use polyhome_store::{ChallengeUse, Conflict, NewForeignSession, StoreError};
use rand::distributions::{Alphanumeric, DistString};

use crate::auth::{new_token, token_hash, Authenticated, Caller};
use crate::federation::Standing;
use crate::{unix_now, ApiError, AppState};

/// A new challenge string, remembered until it is used or expires.
pub(crate) async fn challenge(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let settings = state.settings.challenges;
    let now = unix_now();
    let expires = now.saturating_add(settings.lifetime_secs);
    let s = state.clone();
    let challenge = web::block(move || -> Result<String, ApiError> {
        // Expired challenges are kept a while, so that late attempts still hear "expired".
        let kept = settings.lifetime_secs.max(600);
        s.store.purge_challenges(now.saturating_sub(kept) as i64)?;
        let max = i64::try_from(settings.max_outstanding).unwrap_or(i64::MAX);
        if s.store.count_outstanding_challenges(now as i64)? >= max {
            tracing::warn!(
                max = settings.max_outstanding,
                "challenge refused: challenges.max_outstanding are handed out and unused"
            );
            return Err(ApiError::new(
                ErrorCode::TooManyChallenges,
                format!(
                    "this server has {} challenges handed out and unused; try again within {} s",
                    settings.max_outstanding, settings.lifetime_secs
                ),
            ));
        }
        loop {
            let challenge = new_challenge(settings.length);
            match s
                .store
                .add_challenge(&challenge, expires as i64, now as i64)
            {
                Ok(()) => return Ok(challenge),
                Err(StoreError::Conflict(Conflict::Challenge)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    })
    .await??;
    Ok(HttpResponse::Ok().json(ChallengeResponse { challenge, expires }))
}

/// `length` alphanumeric characters with at least one upper-case letter, lower-case letter and
/// digit each (§4.2's advice), drawn from the operating system's generator.
fn new_challenge(length: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    loop {
        let s = Alphanumeric.sample_string(&mut rng, length);
        let has = |f: fn(&char) -> bool| s.chars().any(|c| f(&c));
        if has(char::is_ascii_uppercase)
            && has(char::is_ascii_lowercase)
            && has(char::is_ascii_digit)
        {
            return s;
        }
    }
}

/// An actor of another home server proves possession of its ID-Cert's key by signing one of
/// our challenges; the home server vouches for the certificate. Answers a session token.
pub(crate) async fn identify(
    state: web::Data<AppState>,
    body: web::Json<IdentifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let IdentifyRequest {
        completed_challenge,
        id_cert,
        ..
    } = body.into_inner();
    let now = unix_now();

    // The challenge is used up by this attempt, whatever its outcome.
    let s = state.clone();
    let presented = completed_challenge.challenge.clone();
    let used = web::block(move || s.store.use_challenge(&presented, now as i64)).await??;
    match used {
        ChallengeUse::Fresh => {}
        ChallengeUse::Expired => {
            return Err(ApiError::new(
                ErrorCode::ChallengeExpired,
                "the challenge has expired",
            ))
        }
        ChallengeUse::Used => {
            return Err(ApiError::new(
                ErrorCode::ChallengeUsed,
                "the challenge was used before; get a new one",
            ))
        }
        ChallengeUse::Unknown => {
            return Err(ApiError::new(
                ErrorCode::ChallengeUnknown,
                "this server did not issue that challenge",
            ))
        }
    }

    let cert = check_foreign_cert(&state, &id_cert, now)?;
    let signature = decode_signature(&completed_challenge.signature)?;
    cert.verify_signature(completed_challenge.challenge.as_bytes(), &signature)
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    vouched_or_ended(&state, &cert, now).await?;

    let token = new_token();
    let hash = token_hash(&token);
    let s = state.clone();
    let fid = cert.fid().to_string();
    let logged_fid = fid.clone();
    web::block(move || {
        s.store.open_foreign_session(&NewForeignSession {
            fid: &fid,
            session_id: cert.session_id().as_str(),
            home_domain: cert.issuer_domain().as_str(),
            cert_pem: &cert.pem(),
            cert_serial: &cert.serial().to_hex(),
            cert_not_after: cert.not_after() as i64,
            token_hash: &hash,
            now: now as i64,
        })
    })
    .await?
    .map_err(|e| match e {
        // Only when identifies for this session keep racing past the store's retries.
        StoreError::Conflict(Conflict::ActiveSessionId) => ApiError::new(
            ErrorCode::SessionIdInUse,
            "another identify for this session was being recorded at the same time; try again",
        ),
        other => other.into(),
    })?;
    tracing::info!(fid = %logged_fid, "foreign actor identified");
    Ok(HttpResponse::Created().json(IdentifyResponse {
        token,
        payload: None,
    }))
}

/// A foreign session's actor tells us its session has a new ID-Cert (after rotating it at home).
/// Checked as in identify, minus the challenge; the session's token is replaced.
pub(crate) async fn idcert_extern(
    state: web::Data<AppState>,
    auth: Authenticated,
    body: web::Json<ExternIdCert>,
) -> Result<HttpResponse, ApiError> {
    let session = match auth.0 {
        Caller::Foreign(session) => session,
        Caller::Home(_) => {
            return Err(ApiError::new(
                ErrorCode::NotForeignSession,
                "this server is your home server; rotate with POST /p2core/session/idcert",
            ))
        }
    };
    let now = unix_now();
    let cert = check_foreign_cert(&state, body.pem(), now)?;
    if cert.fid().to_string() != session.fid || cert.session_id().as_str() != session.session_id() {
        return Err(ApiError::new(
            ErrorCode::IdCertMalformed,
            format!(
                "the ID-Cert is for {} session {:?}, this token for {} session {:?}",
                cert.fid(),
                cert.session_id().as_str(),
                session.fid,
                session.session_id()
            ),
        ));
    }
    vouched_or_ended(&state, &cert, now).await?;

    let token = new_token();
    let hash = token_hash(&token);
    let s = state.clone();
    let updated = web::block(move || {
        s.store.update_foreign_session(
            &session.id,
            &cert.pem(),
            &cert.serial().to_hex(),
            cert.not_after() as i64,
            &hash,
            now as i64,
        )
    })
    .await??;
    if !updated {
        return Err(ApiError::unauthorized());
    }
    Ok(HttpResponse::Created().json(ExternIdCertResponse { token }))
}

/// Parses a foreign actor's ID-Cert and checks what can be checked without its home server.
/// An ID-Cert of this server's own actors is refused: they open sessions here with
/// `POST /p2core/session/trust`, which takes their password.
fn check_foreign_cert(state: &AppState, pem: &str, now: u64) -> Result<ActorCert, ApiError> {
    let err = |e: polyhome_certs::ForeignCertError| ApiError::new(e.code(), e.to_string());
    let cert = parse_actor_cert(pem).map_err(err)?;
    if cert.issuer_domain() == state.domain() {
        return Err(ApiError::new(
            ErrorCode::NotForeignSession,
            format!(
                "this server issued that ID-Cert (to {}): its own actors open sessions with \
                 POST /p2core/session/trust",
                cert.fid()
            ),
        ));
    }
    cert.check_validity(now).map_err(err)?;
    cert.check_domains().map_err(err)?;
    Ok(cert)
}

/// The home server's word on `cert`: signed with its key, and still the valid ID-Cert of its
/// session. When the home server says the session has ended (revoked, §7.1.4), every foreign
/// session here that holds the certificate ends too, as §7.1.4 demands of any server that learns
/// of a revocation. A certificate merely replaced by rotation ends nothing: its session waits
/// for `idcert/extern`.
async fn vouched_or_ended(
    state: &web::Data<AppState>,
    cert: &ActorCert,
    now: u64,
) -> Result<(), ApiError> {
    let fid = cert.fid();
    match state.settings.federation.vouch(cert).await? {
        Standing::Valid => Ok(()),
        Standing::Replaced => Err(ApiError::new(
            ErrorCode::IdCertRevoked,
            format!(
                "{fid}'s home server lists another ID-Cert as the valid one of this session; \
                 present that one"
            ),
        )),
        Standing::Ended => {
            let s = state.clone();
            let (domain, serial) = (cert.issuer_domain().to_string(), cert.serial().to_hex());
            let ended = web::block(move || {
                s.store
                    .revoke_foreign_sessions_with_cert(&domain, &serial, now as i64)
            })
            .await??;
            if ended > 0 {
                tracing::info!(%fid, ended, "foreign sessions ended: their ID-Cert is revoked at home");
            }
            Err(ApiError::new(
                ErrorCode::IdCertRevoked,
                format!(
                    "{fid}'s home server lists no valid ID-Cert for this session: it was revoked"
                ),
            ))
        }
    }
}

/// A 64-byte Ed25519 signature, sent as hex or base64 (either alphabet, padded or not).
fn decode_signature(text: &str) -> Result<Vec<u8>, ApiError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    let decoded = if text.len() == 128 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
    };
    decoded.filter(|d| d.len() == 64).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ChallengeSignatureInvalid,
            "the signature must be 64 bytes of Ed25519 signature, hex or base64",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_mix_character_classes() {
        for length in [32, 64, 256] {
            let c = new_challenge(length);
            assert_eq!(c.len(), length);
            assert!(c.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(c.chars().any(|c| c.is_ascii_digit()));
        }
        assert_ne!(new_challenge(64), new_challenge(64));
    }

    #[test]
    fn signatures_are_hex_or_base64() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let sig: Vec<u8> = (0..64).collect();
        assert_eq!(decode_signature(&hex::encode(&sig)).unwrap(), sig);
        assert_eq!(decode_signature(&STANDARD.encode(&sig)).unwrap(), sig);
        assert_eq!(
            decode_signature(&URL_SAFE_NO_PAD.encode(&sig)).unwrap(),
            sig
        );
        assert!(decode_signature("abcd").is_err());
        assert!(decode_signature(&hex::encode([0u8; 63])).is_err());
    }
}
