//! polyhome's certificates: the home server's Ed25519 identity key and self-signed root ID-Cert,
//! reading and checking actors' ID-CSRs, and issuing their ID-Certs; and, for federation,
//! reading the ID-Certs of actors from other servers ([`parse_actor_cert`]) and their home
//! servers' root certificates ([`parse_root_cert`]), and checking one against the other.
//!
//! Section numbers refer to the polyproto core specification v1.0.0-alpha.6 (May 2024):
//! §4.1.1 authenticating on a foreign server, §5 federation IDs, §7.1 ID-Certs and ID-CSRs,
//! §7.1.1 their structure, §7.2.1 strict signature verification.
//!
//! This crate does no I/O. Keys are generated and used with `ring`; every signature received
//! (CSRs, foreign ID-Certs, root certificates, challenge signatures) is verified with
//! `ed25519-dalek`'s `verify_strict`, which refuses malleable signatures and weak keys.
//! Names and certificates are built with `x509-cert`/`der`.
//!
//! # Interoperability with polyproto 0.8.0
//!
//! The `polyproto` crate of May 2024 writes ID-CSRs differently from OpenSSL; both are read
//! (see [`parse_csr`] and the comments in `asn1.rs`). Certificates are written so that it can
//! parse them: BasicConstraints and KeyUsage are the only extensions, as it refuses any other.
//! Its `IdCert::from_der` still refuses them, for reasons of its own that no DER certificate
//! can avoid (the tests in `tests/polyproto_interop.rs` show each):
//!
//! * it verifies a certificate's signature with the certificate's *own* key, so only
//!   self-signed certificates could pass;
//! * it verifies that signature over its own re-encoding of the TBS certificate, and re-encodes
//!   the two extensions in a non-DER way (BasicConstraints with an explicit `cA FALSE` and an
//!   eight-octet path length; KeyUsage with its unused-bits count taken from the *leading* zero
//!   bits), so even the self-signed root fails there;
//! * its issuer/subject domain comparison pairs RDNs up by position, so an actor subject
//!   passes only if its DC RDNs come first (CN first, as OpenSSL writes it, fails).
//!
//! Everything else it checks passes: capabilities, names, domain components (for DC-first
//! subjects) and key parsing.

mod asn1;
mod csr;
mod ed25519;
mod foreign;
mod identity;
mod names;
mod serial;
mod text;

pub use csr::{parse_csr, parse_csr_der, CsrError, ParsedCsr, ValidatedCsr};
pub use foreign::{parse_actor_cert, parse_root_cert, ActorCert, ForeignCertError, RootCert};
pub use identity::{CertError, IssuedCert, ServerIdentity};
pub use serial::Serial;
pub use text::pem_to_der;

#[cfg(test)]
mod tests;
