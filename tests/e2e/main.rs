//! End-to-end tests: each test starts the real `polyhome` binary on a free port with its own
//! database and talks to it over HTTP, as any client would.
//!
//! The database is SQLite in a temporary directory, or, when `POLYHOME_TEST_POSTGRES_URL` names a
//! PostgreSQL server (`postgres://postgres@127.0.0.1:5432`), a fresh PostgreSQL database per
//! server that is dropped afterwards. `cargo xtask test` runs the suite both ways.

mod federation;
mod harness;
mod keys;
mod openssl;
mod polyproto;
#[path = "../support/polyproto_keys.rs"]
mod polyproto_keys;
mod refusals;
mod register;
mod trust;
