//! The server's identity key: loaded from the database, or made on first start.

use anyhow::Context;
use polyhome_certs::{Serial, ServerIdentity};
use polyhome_proto::DomainName;
use polyhome_store::{ServerKey, Store};

/// The newest stored identity if it is still valid, else a new key and root certificate,
/// stored before it is used.
pub fn load_or_create(
    store: &Store,
    domain: &DomainName,
    lifetime_secs: u64,
) -> anyhow::Result<ServerIdentity> {
    let now = polyhome_api::unix_now();
    if let Some(stored) = store.current_server_key()? {
        if stored.not_after as u64 > now {
            let key = hex::decode(&stored.key_pkcs8_hex).context("stored server key is not hex")?;
            let cert = pem_to_der(&stored.cert_pem)?;
            let identity = ServerIdentity::from_stored(&key, &cert)
                .with_context(|| format!("loading server identity key {}", stored.serial))?;
            tracing::info!(serial = %stored.serial, not_after = stored.not_after, "server identity key loaded");
            return Ok(identity);
        }
        tracing::warn!(serial = %stored.serial, "server certificate expired; making a new identity key");
    }
    let identity = ServerIdentity::generate(
        domain,
        Serial::random(),
        now,
        now.saturating_add(lifetime_secs),
    )
    .context("generating the server identity key")?;
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
}

fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("stored server certificate is not PEM: {e}"))?;
    anyhow::ensure!(
        label == "CERTIFICATE",
        "stored server certificate has PEM label {label}"
    );
    Ok(der)
}
