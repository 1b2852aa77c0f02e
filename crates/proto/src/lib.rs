//! Protocol types of polyproto as polyhome speaks it: identifiers, request and response bodies,
//! and the error codes that travel in `{"errcode", "error"}` bodies.
//!
//! This crate does no I/O. Clients and other servers can use it to talk to polyhome.
//! Section numbers refer to the polyproto core specification v1.0.0-alpha.6 (May 2024).

mod bodies;
mod error;
mod ids;

pub use bodies::*;
pub use error::{ErrorBody, ErrorCode};
pub use ids::{ActorName, DomainName, FederationId, IdError, SessionId, ACTOR_NAME_MAX_LEN};
