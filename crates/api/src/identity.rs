//! The server's identity key: loaded from the database, made on first start, and made anew
//! when its certificate has expired.

use polyhome_certs::{parse_root_cert, pem_to_der, Serial, ServerIdentity};
use polyhome_proto::DomainName;
use polyhome_store::{ServerKey, Store, StoreError};

/// Why no identity key could be had.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored server identity key {serial} is unusable: {why}")]
    Unusable { serial: String, why: String },
    #[error(
        "the stored server identity key is for the domain {stored}, but this server is configured for \
         {configured}; a server's domain cannot change under its certificates (use a new database)"
    )]
    DomainChanged {
        stored: DomainName,
        configured: DomainName,
    },
    #[error("cannot make a server identity key: {0}")]
    Generate(String),
}

/// The newest stored identity if its certificate is still valid at `now`, else a new key and
/// root certificate, stored before it is used. Several processes sharing one database take
/// turns here, so they end up with one key.
pub fn load_or_create(
    store: &Store,
    domain: &DomainName,
    lifetime_secs: u64,
    now: u64,
) -> Result<ServerIdentity, IdentityError> {
    store.exclusively(|| {
        if let Some(stored) = store.current_server_key()? {
            if stored.not_after as u64 > now {
                return load(&stored, domain);
            }
            tracing::warn!(serial = %stored.serial, "server certificate expired; making a new identity key");
        }
        let identity = ServerIdentity::generate(domain, Serial::random(), now, now.saturating_add(lifetime_secs))
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
        store.add_server_key(&ServerKey {
            serial: identity.serial().to_hex(),
            cert_pem: identity.cert_pem().to_owned(),
            key_pkcs8_hex: hex::encode(identity.pkcs8_der()),
            not_before: identity.not_before() as i64,
            not_after: identity.not_after() as i64,
            created_at: now as i64,
        })?;
        tracing::info!(serial = %identity.serial().to_hex(), %domain, "new server identity key and root certificate made");
        Ok(identity)
    })
}

/// The newest stored identity, whatever its validity; `None` in an empty database.
pub fn load_newest(
    store: &Store,
    domain: &DomainName,
) -> Result<Option<ServerIdentity>, IdentityError> {
    store
        .current_server_key()?
        .map(|stored| load(&stored, domain))
        .transpose()
}

fn load(stored: &ServerKey, domain: &DomainName) -> Result<ServerIdentity, IdentityError> {
    let unusable = |why: String| IdentityError::Unusable {
        serial: stored.serial.clone(),
        why,
    };
    let key = hex::decode(&stored.key_pkcs8_hex).map_err(|e| unusable(e.to_string()))?;
    let cert = pem_to_der(&stored.cert_pem, "CERTIFICATE")
        .ok_or_else(|| unusable("certificate is not PEM".into()))?;
    let root = parse_root_cert(&stored.cert_pem).map_err(|e| unusable(e.to_string()))?;
    if root.domain() != domain {
        return Err(IdentityError::DomainChanged {
            stored: root.domain().clone(),
            configured: domain.clone(),
        });
    }
    let identity = ServerIdentity::from_stored(&key, &cert).map_err(|e| unusable(e.to_string()))?;
    tracing::info!(serial = %stored.serial, not_after = stored.not_after, "server identity key loaded");
    Ok(identity)
}
