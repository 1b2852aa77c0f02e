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
/// root certificate, stored before it is used (see [`create`]). Several processes sharing one
/// database take turns here, so they end up with one key.
pub fn load_or_create(
    store: &Store,
    domain: &DomainName,
    lifetime_secs: u64,
    now: u64,
) -> Result<ServerIdentity, IdentityError> {
    store.exclusively(|| {
        let newest = store.current_server_key()?;
        if let Some(stored) = &newest {
            if stored.not_after as u64 > now {
                return load(stored, domain);
            }
            tracing::warn!(serial = %stored.serial, "server certificate expired; making a new identity key");
        }
        create(store, domain, lifetime_secs, newest.as_ref())
    })
}

/// A new identity key and root certificate that replace the newest one before it expires
/// (`PUT /p2core/key/server`), stored before it is returned. Processes sharing one database take
/// turns here.
pub fn rotate(
    store: &Store,
    domain: &DomainName,
    lifetime_secs: u64,
) -> Result<ServerIdentity, IdentityError> {
    store.exclusively(|| {
        let newest = store.current_server_key()?;
        create(store, domain, lifetime_secs, newest.as_ref())
    })
}

/// Makes and stores a key whose root certificate follows `newest`'s. A successor's validity
/// starts at a whole second after both now and `newest`'s start, and this waits for that second
/// (under a second, unless rotations follow each other within one), so that:
/// - every ID-Cert the older key signed starts before the new root does, and
///   `GET /p2core/key/server?timestamp=<an ID-Cert's notBefore>` names the root that signed it
///   (the newest valid then), on this server and on any foreign one;
/// - roots start at strictly increasing times, so the newest is the one with the latest start
///   however quickly rotations follow each other.
fn create(
    store: &Store,
    domain: &DomainName,
    lifetime_secs: u64,
    newest: Option<&ServerKey>,
) -> Result<ServerIdentity, IdentityError> {
    let start = match newest {
        None => crate::unix_now(),
        Some(newest) => {
            let start = (crate::unix_now() + 1).max(newest.not_before as u64 + 1);
            wait_until(start);
            start
        }
    };
    let identity = ServerIdentity::generate(
        domain,
        Serial::random(),
        start,
        start.saturating_add(lifetime_secs),
    )
    .map_err(|e| IdentityError::Generate(e.to_string()))?;
    store.add_server_key(&ServerKey {
        serial: identity.serial().to_hex(),
        cert_pem: identity.cert_pem().to_owned(),
        key_pkcs8_hex: hex::encode(identity.pkcs8_der()),
        not_before: identity.not_before() as i64,
        not_after: identity.not_after() as i64,
        created_at: crate::unix_now() as i64,
    })?;
    tracing::info!(serial = %identity.serial().to_hex(), %domain, not_before = start, "new server identity key and root certificate made");
    Ok(identity)
}

/// Sleeps until the wall clock reaches the UNIX second `second`.
fn wait_until(second: u64) {
    let target = std::time::UNIX_EPOCH + std::time::Duration::from_secs(second);
    if let Ok(left) = target.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(left);
    }
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
