//! polyhome's persistence: actors, the server's identity keys, and issued ID-Certs with their
//! sessions.
//!
//! One diesel schema serves SQLite (the default, a file in the data directory, WAL mode) and
//! PostgreSQL (selected by a `postgres://` URL). The migrations in `migrations/` are written in
//! the SQL both understand and are embedded in the binary; `Store::open` applies them.
//!
//! Every method is blocking; async callers run them on a blocking thread pool. Races are settled
//! by the database's unique constraints, not by read-then-write sequences, so each write is one
//! statement and needs no transaction.

mod cache;
mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use cache::CertCache;
pub use cache::{CachedCert, CurrentCerts};
use schema::{actors, cert_generation, challenges, foreign_sessions, id_certs, server_keys};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The PostgreSQL advisory lock that serializes migrations and [`Store::exclusively`].
const STARTUP_LOCK: i64 = 0x706f_6c79_686f_6d65; // "polyhome"
/// First key of the advisory locks that let identifies of one foreign session take turns.
const FOREIGN_SESSION_LOCKS: i32 = 0x7032_6673; // "p2fs"

/// One connection to either backend; diesel generates the dispatch.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; anything else is a SQLite path
    /// (an optional `sqlite://` prefix is removed).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("{0} already exists")]
    Conflict(Conflict),
    /// No connection could be had in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Opening or migrating the database failed.
    #[error("cannot open database: {0}")]
    Open(String),
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl From<DieselError> for StoreError {
    /// A connection that broke, or a database too busy to take a write in time, is
    /// [`StoreError::Unavailable`] (worth trying again); any other failure is
    /// [`StoreError::Database`].
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_owned()),
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked") =>
            {
                StoreError::Unavailable(info.message().to_owned())
            }
            _ => StoreError::Database(err),
        }
    }
}

/// Which uniqueness rule a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    ActorName,
    ActiveSessionId,
    Serial,
    Challenge,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conflict::ActorName => "actor name",
            Conflict::ActiveSessionId => "active session with this session ID",
            Conflict::Serial => "certificate serial number",
            Conflict::Challenge => "challenge string",
        })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A registered actor.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = actors)]
pub struct Actor {
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
}

/// One of the server's identity keys with its root certificate.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = server_keys)]
pub struct ServerKey {
    /// Certificate serial number, lower-case hex.
    pub serial: String,
    pub cert_pem: String,
    /// PKCS #8 private key, hex. Never logged.
    pub key_pkcs8_hex: String,
    pub not_before: i64,
    pub not_after: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A new ID-Cert and the session it opens.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub serial: &'a str,
    pub actor_name: &'a str,
    pub session_id: &'a str,
    pub cert_pem: &'a str,
    pub not_before: i64,
    pub not_after: i64,
    pub issued_at: i64,
    /// SHA-256 of the session token, hex.
    pub token_hash: &'a str,
}

/// The session a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub serial: String,
    pub actor_name: String,
    pub session_id: String,
    /// SHA-256 of the session token, hex.
    pub token_hash: String,
    /// When the session's ID-Cert expires; the session ends then too.
    pub not_after: i64,
}

/// What became of a challenge string presented for use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeUse {
    /// Issued, unexpired, and now used up by this attempt.
    Fresh,
    /// Issued, but its lifetime is over (it is used up all the same).
    Expired,
    /// Used before.
    Used,
    /// Never issued here (or purged long after it expired).
    Unknown,
}

/// A session of an actor from another home server.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = foreign_sessions)]
pub struct ForeignSession {
    pub id: String,
    pub fid: String,
    /// Hex of the session ID's bytes; see [`ForeignSession::session_id`].
    pub session_id_hex: String,
    pub home_domain: String,
    pub cert_pem: String,
    pub cert_serial: String,
    /// When the session's ID-Cert expires; the session ends then too.
    pub cert_not_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub revoked_at: Option<i64>,
    pub token_hash: Option<String>,
}

impl ForeignSession {
    pub fn session_id(&self) -> String {
        decode_session_id(&self.session_id_hex)
    }
}

/// A new foreign session: the checked ID-Cert and the token handed out for it.
#[derive(Debug, Clone)]
pub struct NewForeignSession<'a> {
    pub fid: &'a str,
    pub session_id: &'a str,
    pub home_domain: &'a str,
    pub cert_pem: &'a str,
    pub cert_serial: &'a str,
    pub cert_not_after: i64,
    pub token_hash: &'a str,
    pub now: i64,
}

#[derive(Insertable)]
#[diesel(table_name = id_certs)]
struct IdCertRow<'a> {
    serial: &'a str,
    actor_name: &'a str,
    session_id_hex: String,
    cert_pem: &'a str,
    not_before: i64,
    not_after: i64,
    issued_at: i64,
    revoked_at: Option<i64>,
    token_hash: Option<&'a str>,
}

/// Opens pooled connections to the one backend the URL names. (diesel's own manager tries
/// every backend of [`AnyConnection`] and, when the database is down, reports only that the
/// URL fits none of them; this one passes on the backend's own reason.)
#[derive(Debug)]
struct Connector {
    url: String,
    backend: Backend,
}

impl ManageConnection for Connector {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<AnyConnection, Self::Error> {
        match self.backend {
            Backend::Sqlite => {
                diesel::SqliteConnection::establish(&self.url).map(AnyConnection::Sqlite)
            }
            Backend::Postgres => {
                diesel::PgConnection::establish(&self.url).map(AnyConnection::Postgres)
            }
        }
        .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> std::result::Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Settings applied to every pooled connection.
#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut AnyConnection) -> std::result::Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(conn) = conn {
            // WAL lets readers run beside the one writer; the busy timeout makes concurrent
            // writers wait for the lock instead of failing.
            conn.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Logs failures to open a pooled connection, saying what they mean for requests. The pool
/// retries several times a second while the database is away, so after one line the next comes
/// only [`CONNECT_FAILURE_LOG_INTERVAL`] later, counting the failures in between.
#[derive(Debug, Default)]
struct LogConnectFailure {
    /// When the last line was written, and the failures not logged since.
    last: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

const CONNECT_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for LogConnectFailure {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if last
            .0
            .is_some_and(|at| now.duration_since(at) < CONNECT_FAILURE_LOG_INTERVAL)
        {
            last.1 += 1;
            return;
        }
        let unlogged = std::mem::take(&mut last.1);
        last.0 = Some(now);
        drop(last);
        tracing::warn!(
            %error,
            failures_since_last_line = unlogged,
            "cannot open a database connection; requests that need one wait up to {} s for it, \
             then get 503 P2CORE_UNAVAILABLE",
            CONNECTION_TIMEOUT.as_secs()
        );
    }
}

/// How long a request waits for a pooled connection.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The order of `server_keys` from the newest key: the one whose validity starts last
/// (`api::identity` makes each start after the one before), then the one stored last.
fn newest_key_first() -> (
    diesel::helper_types::Desc<server_keys::not_before>,
    diesel::helper_types::Desc<server_keys::created_at>,
) {
    (
        server_keys::not_before.desc(),
        server_keys::created_at.desc(),
    )
}

/// A pool of connections to the database.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Connector>,
    backend: Backend,
    certs: std::sync::Arc<CertCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `url`, creating the SQLite file if needed, and applies pending
    /// migrations. `pool_size` connections are kept at most.
    pub fn open(url: &str, pool_size: u32) -> Result<Store> {
        let backend = Backend::of_url(url);
        let url = url.strip_prefix("sqlite://").unwrap_or(url);
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open(e.to_string());
        match backend {
            Backend::Sqlite => {
                let mut conn =
                    diesel::SqliteConnection::establish(url).map_err(|e| open_err(&e))?;
                conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000;")?;
                conn.run_pending_migrations(MIGRATIONS)
                    .map_err(|e| open_err(&e))?;
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(url).map_err(|e| open_err(&e))?;
                // Processes starting together on one database migrate one after the other.
                conn.batch_execute(&format!("SELECT pg_advisory_lock({STARTUP_LOCK})"))?;
                let migrated = conn
                    .run_pending_migrations(MIGRATIONS)
                    .map(drop)
                    .map_err(|e| open_err(&e));
                conn.batch_execute(&format!("SELECT pg_advisory_unlock({STARTUP_LOCK})"))?;
                migrated?;
            }
        }
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(CONNECTION_TIMEOUT)
            .connection_customizer(Box::new(ConnectionSetup))
            .error_handler(Box::<LogConnectFailure>::default())
            .build(Connector {
                url: url.to_owned(),
                backend,
            })
            .map_err(|e| open_err(&e))?;
        let generation = read_generation(&mut *pool.get().map_err(|e| open_err(&e))?)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok(Store {
            pool,
            backend,
            certs: std::sync::Arc::new(CertCache::new(generation, now)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` while no other process sharing this PostgreSQL database runs a section of its
    /// own (an advisory lock); for example, to make the server's identity key only once. SQLite
    /// databases belong to one process, and `f` simply runs.
    pub fn exclusively<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut conn = match self.backend {
            Backend::Sqlite => return f(),
            Backend::Postgres => self.conn()?,
        };
        let mut lock = |call: &str| -> Result<()> {
            if let AnyConnection::Postgres(pg) = &mut *conn {
                pg.batch_execute(&format!("SELECT {call}({STARTUP_LOCK})"))?;
            }
            Ok(())
        };
        lock("pg_advisory_lock")?;
        let result = f();
        lock("pg_advisory_unlock")?;
        result
    }

    fn conn(&self) -> Result<PooledConnection<Connector>> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    // ---- actors ----

    /// Registers an actor. `name` must already be canonical (lower case).
    pub fn create_actor(&self, name: &str, password_hash: &str, now: i64) -> Result<()> {
        diesel::insert_into(actors::table)
            .values((
                actors::name.eq(name),
                actors::password_hash.eq(password_hash),
                actors::is_admin.eq(false),
                actors::created_at.eq(now),
            ))
            .execute(&mut self.conn()?)
            .map_err(|e| conflict(e, |_| Conflict::ActorName))?;
        Ok(())
    }

    pub fn actor(&self, name: &str) -> Result<Option<Actor>> {
        Ok(actors::table
            .find(name)
            .select(Actor::as_select())
            .first(&mut self.conn()?)
            .optional()?)
    }

    /// Grants or takes away administrator rights; false if there is no such actor.
    pub fn set_admin(&self, name: &str, is_admin: bool) -> Result<bool> {
        let n = diesel::update(actors::table.find(name))
            .set(actors::is_admin.eq(is_admin))
            .execute(&mut self.conn()?)?;
        Ok(n == 1)
    }

    pub fn count_actors(&self) -> Result<i64> {
        Ok(actors::table.count().get_result(&mut self.conn()?)?)
    }

    // ---- the server's identity ----

    pub fn add_server_key(&self, key: &ServerKey) -> Result<()> {
        diesel::insert_into(server_keys::table)
            .values(key)
            .execute(&mut self.conn()?)
            .map_err(|e| conflict(e, |_| Conflict::Serial))?;
        Ok(())
    }

    /// The newest identity key, the one that signs now ([`newest_key_first`]).
    pub fn current_server_key(&self) -> Result<Option<ServerKey>> {
        Ok(server_keys::table
            .order(newest_key_first())
            .select(ServerKey::as_select())
            .first(&mut self.conn()?)
            .optional()?)
    }

    /// The serial of [`Store::current_server_key`]: a cheap way to notice that another process
    /// sharing the database has rotated the identity key.
    pub fn current_server_key_serial(&self) -> Result<Option<String>> {
        Ok(server_keys::table
            .order(newest_key_first())
            .select(server_keys::serial)
            .first(&mut self.conn()?)
            .optional()?)
    }

    /// The root certificate valid at `at`; of several, the newest.
    pub fn server_cert_at(&self, at: i64) -> Result<Option<String>> {
        Ok(server_keys::table
            .filter(
                server_keys::not_before
                    .le(at)
                    .and(server_keys::not_after.ge(at)),
            )
            .order(newest_key_first())
            .select(server_keys::cert_pem)
            .first(&mut self.conn()?)
            .optional()?)
    }

    // ---- ID-Certs and sessions ----

    /// Stores a new ID-Cert as the active certificate of its session, with its token hash.
    /// Fails with `Conflict::ActiveSessionId` when the actor has an active session with that ID.
    pub fn create_session(&self, new: &NewSession<'_>) -> Result<()> {
        self.changing_certs(Some(new.actor_name), |conn| {
            // A session whose ID-Cert has expired is over: its session ID is free (§7.1.1.3).
            // It counts as revoked at its expiry, so history queries are unchanged.
            diesel::update(
                id_certs::table
                    .filter(id_certs::actor_name.eq(new.actor_name))
                    .filter(id_certs::session_id_hex.eq(hex::encode(new.session_id)))
                    .filter(id_certs::revoked_at.is_null())
                    .filter(id_certs::not_after.lt(new.issued_at)),
            )
            .set((
                id_certs::revoked_at.eq(id_certs::not_after.nullable()),
                id_certs::token_hash.eq(None::<String>),
            ))
            .execute(conn)?;
            insert_session(conn, new)?;
            Ok(())
        })
        .map_err(session_conflict)
    }

    /// Runs `change`, a change to ID-Certs, in a transaction that also moves the
    /// `cert_generation` counter; afterwards (committed or not) drops `actor`'s cached
    /// certificates (`None`: everyone's).
    fn changing_certs<T>(
        &self,
        actor: Option<&str>,
        change: impl FnOnce(&mut AnyConnection) -> QueryResult<T>,
    ) -> std::result::Result<T, DieselError> {
        // No connection to be had reads as one that failed to send, which converts back to
        // StoreError::Unavailable.
        let mut conn = self.conn().map_err(|e| match e {
            StoreError::Database(e) => e,
            other => DieselError::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand,
                Box::new(other.to_string()),
            ),
        })?;
        let result = conn.transaction::<_, DieselError, _>(|conn| {
            let value = change(conn)?;
            diesel::update(cert_generation::table.find(1))
                .set(cert_generation::generation.eq(cert_generation::generation + 1))
                .execute(conn)?;
            Ok((value, read_generation_query(conn)?))
        });
        self.certs.forget(actor);
        let (value, generation) = result?;
        self.certs.changed_to(generation);
        Ok(value)
    }

    /// Replaces the active ID-Cert of a session with a new one (key rotation, §7.1.3): the old
    /// certificate is revoked and its token dies, in the same transaction as the insert. False,
    /// with nothing changed, if the old certificate was no longer active.
    pub fn rotate_session(&self, old_serial: &str, new: &NewSession<'_>) -> Result<bool> {
        self.changing_certs(Some(new.actor_name), |conn| {
            if revoke_by_serial(conn, old_serial, new.issued_at)? == 0 {
                return Ok(false);
            }
            insert_session(conn, new)?;
            Ok(true)
        })
        .map_err(session_conflict)
    }

    /// Revokes the actor's active session with this session ID (early revocation, §7.1.4).
    /// False if there is none.
    pub fn revoke_session_id(&self, actor: &str, session_id: &str, now: i64) -> Result<bool> {
        let n = self.changing_certs(Some(actor), |conn| {
            diesel::update(
                id_certs::table
                    .filter(id_certs::actor_name.eq(actor))
                    .filter(id_certs::session_id_hex.eq(hex::encode(session_id)))
                    .filter(id_certs::revoked_at.is_null()),
            )
            .set((
                id_certs::revoked_at.eq(Some(now)),
                id_certs::token_hash.eq(None::<String>),
            ))
            .execute(conn)
        })?;
        Ok(n > 0)
    }

    /// The active session holding the token with this hash.
    pub fn session_by_token_hash(&self, token_hash: &str) -> Result<Option<Session>> {
        let row: Option<(String, String, String, Option<String>, i64)> = id_certs::table
            .filter(id_certs::token_hash.eq(token_hash))
            .filter(id_certs::revoked_at.is_null())
            .select((
                id_certs::serial,
                id_certs::actor_name,
                id_certs::session_id_hex,
                id_certs::token_hash,
                id_certs::not_after,
            ))
            .first(&mut self.conn()?)
            .optional()?;
        Ok(
            row.map(|(serial, actor_name, sid, hash, not_after)| Session {
                serial,
                actor_name,
                session_id: decode_session_id(&sid),
                token_hash: hash.unwrap_or_default(),
                not_after,
            }),
        )
    }

    /// Ends the session of the ID-Cert with this serial: the token dies and the session ID is
    /// free again. False if it was not active.
    pub fn revoke_session(&self, serial: &str, now: i64) -> Result<bool> {
        let actor: Option<String> = id_certs::table
            .find(serial)
            .select(id_certs::actor_name)
            .first(&mut self.conn()?)
            .optional()?;
        let Some(actor) = actor else {
            return Ok(false);
        };
        let n = self.changing_certs(Some(&actor), |conn| revoke_by_serial(conn, serial, now))?;
        Ok(n == 1)
    }

    /// The actor's ID-Certs (PEM) that were valid at `at`: inside their validity and not yet
    /// revoked then. Optionally only those of one session. Oldest first.
    pub fn actor_certs_at(
        &self,
        actor: &str,
        at: i64,
        session_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut query = id_certs::table
            .filter(id_certs::actor_name.eq(actor))
            .filter(id_certs::not_before.le(at))
            .filter(id_certs::not_after.ge(at))
            .filter(
                id_certs::revoked_at
                    .is_null()
                    .or(id_certs::revoked_at.gt(at)),
            )
            .select(id_certs::cert_pem)
            .order((id_certs::not_before.asc(), id_certs::issued_at.asc()))
            .into_boxed();
        if let Some(sid) = session_id {
            query = query.filter(id_certs::session_id_hex.eq(hex::encode(sid)));
        }
        Ok(query.load(&mut self.conn()?)?)
    }

    /// The actor's ID-Certs valid at `now` from memory, if they are there: no I/O, for async
    /// callers. `None` means: ask [`Store::current_certs`].
    pub fn cached_certs(&self, actor: &str, now: i64) -> Option<CurrentCerts> {
        self.certs.get(actor, now)
    }

    /// The actor's unrevoked, unexpired ID-Certs (`None` if no such actor), loaded into memory
    /// for [`Store::cached_certs`]. Also notices changes other processes made.
    pub fn current_certs(&self, actor: &str, now: i64) -> Result<Option<CurrentCerts>> {
        let mut conn = self.conn()?;
        self.certs.saw_generation(read_generation(&mut conn)?);
        let epoch = self.certs.epoch();
        let exists = actors::table
            .find(actor)
            .select(actors::name)
            .first::<String>(&mut conn)
            .optional()?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let rows: Vec<(String, i64, i64, String)> = id_certs::table
            .filter(id_certs::actor_name.eq(actor))
            .filter(id_certs::revoked_at.is_null())
            .filter(id_certs::not_after.ge(now))
            .order((id_certs::not_before.asc(), id_certs::issued_at.asc()))
            .select((
                id_certs::session_id_hex,
                id_certs::not_before,
                id_certs::not_after,
                id_certs::cert_pem,
            ))
            .load(&mut conn)?;
        let certs = CurrentCerts(
            rows.into_iter()
                .map(|(sid, not_before, not_after, pem)| CachedCert {
                    session_id: decode_session_id(&sid),
                    not_before,
                    not_after,
                    pem,
                })
                .collect(),
        );
        self.certs.insert(actor, certs.clone(), epoch);
        Ok(Some(certs))
    }

    /// Every ID-Cert (PEM) the actor's session with this ID was ever issued, revoked or not.
    pub fn session_history(&self, actor: &str, session_id: &str) -> Result<Vec<String>> {
        Ok(id_certs::table
            .filter(id_certs::actor_name.eq(actor))
            .filter(id_certs::session_id_hex.eq(hex::encode(session_id)))
            .select(id_certs::cert_pem)
            .load(&mut self.conn()?)?)
    }

    /// How many ID-Certs the actor was ever issued (for tests and diagnostics).
    pub fn count_certs(&self, actor: &str) -> Result<i64> {
        Ok(id_certs::table
            .filter(id_certs::actor_name.eq(actor))
            .count()
            .get_result(&mut self.conn()?)?)
    }
}

impl Store {
    // ---- challenge strings ----

    /// How many challenges are neither used nor expired at `now`.
    pub fn count_outstanding_challenges(&self, now: i64) -> Result<i64> {
        Ok(challenges::table
            .filter(challenges::expires_at.ge(now))
            .filter(challenges::used_at.is_null())
            .count()
            .get_result(&mut self.conn()?)?)
    }

    pub fn add_challenge(&self, challenge: &str, expires_at: i64, now: i64) -> Result<()> {
        diesel::insert_into(challenges::table)
            .values((
                challenges::challenge.eq(challenge),
                challenges::expires_at.eq(expires_at),
                challenges::created_at.eq(now),
            ))
            .execute(&mut self.conn()?)
            .map_err(|e| conflict(e, |_| Conflict::Challenge))?;
        Ok(())
    }

    /// Uses up a challenge string: of concurrent attempts with one challenge, exactly one sees
    /// `Fresh` (or `Expired`), the others `Used`.
    pub fn use_challenge(&self, challenge: &str, now: i64) -> Result<ChallengeUse> {
        let mut conn = self.conn()?;
        let first_use = diesel::update(
            challenges::table
                .find(challenge)
                .filter(challenges::used_at.is_null()),
        )
        .set(challenges::used_at.eq(Some(now)))
        .execute(&mut conn)?
            == 1;
        let expires_at: Option<i64> = challenges::table
            .find(challenge)
            .select(challenges::expires_at)
            .first(&mut conn)
            .optional()?;
        Ok(match expires_at {
            None => ChallengeUse::Unknown,
            Some(_) if !first_use => ChallengeUse::Used,
            Some(expires_at) if expires_at < now => ChallengeUse::Expired,
            Some(_) => ChallengeUse::Fresh,
        })
    }

    /// Forgets challenges that expired before `before`. Returns how many.
    pub fn purge_challenges(&self, before: i64) -> Result<usize> {
        Ok(
            diesel::delete(challenges::table.filter(challenges::expires_at.lt(before)))
                .execute(&mut self.conn()?)?,
        )
    }

    // ---- sessions of foreign actors ----

    /// Opens a session for a foreign actor. An active session of the same actor and session ID
    /// is replaced (its token dies): the actor proved possession of the key again.
    pub fn open_foreign_session(&self, new: &NewForeignSession<'_>) -> Result<String> {
        // Two identifies for one session may race: both find no active session to end, and the
        // second insert meets the first's row in the unique index. On PostgreSQL the transaction
        // first takes a lock on the session's key, so identifies of one session take turns and
        // each ends the row of the one before. SQLite takes turns anyway (one writer at a time).
        // Should a conflict still come through, trying again ends that row like any older one,
        // so the later identify wins, as it does when they do not overlap.
        const ATTEMPTS: usize = 5;
        let mut attempt = 1;
        loop {
            match self.try_open_foreign_session(new) {
                Err(StoreError::Conflict(Conflict::ActiveSessionId)) if attempt < ATTEMPTS => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn try_open_foreign_session(&self, new: &NewForeignSession<'_>) -> Result<String> {
        let id = hex::encode(rand_id());
        let sid = hex::encode(new.session_id);
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            if let AnyConnection::Postgres(pg) = &mut **conn {
                // Held until the transaction ends. The two-key form has its own key space, apart
                // from the single-key STARTUP_LOCK.
                diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                    .bind::<diesel::sql_types::Integer, _>(FOREIGN_SESSION_LOCKS)
                    .bind::<diesel::sql_types::Text, _>(format!("{}/{sid}", new.fid))
                    .execute(pg)?;
            }
            diesel::update(
                foreign_sessions::table
                    .filter(foreign_sessions::fid.eq(new.fid))
                    .filter(foreign_sessions::session_id_hex.eq(&sid))
                    .filter(foreign_sessions::revoked_at.is_null()),
            )
            .set((
                foreign_sessions::revoked_at.eq(Some(new.now)),
                foreign_sessions::token_hash.eq(None::<String>),
            ))
            .execute(conn)?;
            diesel::insert_into(foreign_sessions::table)
                .values((
                    foreign_sessions::id.eq(&id),
                    foreign_sessions::fid.eq(new.fid),
                    foreign_sessions::session_id_hex.eq(&sid),
                    foreign_sessions::home_domain.eq(new.home_domain),
                    foreign_sessions::cert_pem.eq(new.cert_pem),
                    foreign_sessions::cert_serial.eq(new.cert_serial),
                    foreign_sessions::cert_not_after.eq(new.cert_not_after),
                    foreign_sessions::created_at.eq(new.now),
                    foreign_sessions::updated_at.eq(new.now),
                    foreign_sessions::token_hash.eq(Some(new.token_hash)),
                ))
                .execute(conn)
        })
        .map_err(session_conflict)?;
        Ok(id)
    }

    /// The active foreign session holding the token with this hash.
    pub fn foreign_session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ForeignSession>> {
        Ok(foreign_sessions::table
            .filter(foreign_sessions::token_hash.eq(token_hash))
            .filter(foreign_sessions::revoked_at.is_null())
            .select(ForeignSession::as_select())
            .first(&mut self.conn()?)
            .optional()?)
    }

    /// Records a foreign session's new ID-Cert and token (the old token dies). False if the
    /// session is no longer active.
    pub fn update_foreign_session(
        &self,
        id: &str,
        cert_pem: &str,
        cert_serial: &str,
        cert_not_after: i64,
        token_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let n = diesel::update(
            foreign_sessions::table
                .find(id)
                .filter(foreign_sessions::revoked_at.is_null()),
        )
        .set((
            foreign_sessions::cert_pem.eq(cert_pem),
            foreign_sessions::cert_serial.eq(cert_serial),
            foreign_sessions::cert_not_after.eq(cert_not_after),
            foreign_sessions::token_hash.eq(Some(token_hash)),
            foreign_sessions::updated_at.eq(now),
        ))
        .execute(&mut self.conn()?)?;
        Ok(n == 1)
    }

    /// Ends the active foreign session of `fid` with this session ID (early revocation, asked
    /// for by the actor). False if there is none.
    pub fn revoke_foreign_session_id(&self, fid: &str, session_id: &str, now: i64) -> Result<bool> {
        let n = diesel::update(
            foreign_sessions::table
                .filter(foreign_sessions::fid.eq(fid))
                .filter(foreign_sessions::session_id_hex.eq(hex::encode(session_id)))
                .filter(foreign_sessions::revoked_at.is_null()),
        )
        .set((
            foreign_sessions::revoked_at.eq(Some(now)),
            foreign_sessions::token_hash.eq(None::<String>),
        ))
        .execute(&mut self.conn()?)?;
        Ok(n > 0)
    }

    /// Ends the active foreign sessions that hold the ID-Cert with this home domain and serial,
    /// once its home server has said it is no longer valid (§7.1.4). Returns how many ended.
    pub fn revoke_foreign_sessions_with_cert(
        &self,
        home_domain: &str,
        cert_serial: &str,
        now: i64,
    ) -> Result<usize> {
        Ok(diesel::update(
            foreign_sessions::table
                .filter(foreign_sessions::home_domain.eq(home_domain))
                .filter(foreign_sessions::cert_serial.eq(cert_serial))
                .filter(foreign_sessions::revoked_at.is_null()),
        )
        .set((
            foreign_sessions::revoked_at.eq(Some(now)),
            foreign_sessions::token_hash.eq(None::<String>),
        ))
        .execute(&mut self.conn()?)?)
    }

    /// Ends a foreign session. False if it was not active.
    pub fn revoke_foreign_session(&self, id: &str, now: i64) -> Result<bool> {
        let n = diesel::update(
            foreign_sessions::table
                .find(id)
                .filter(foreign_sessions::revoked_at.is_null()),
        )
        .set((
            foreign_sessions::revoked_at.eq(Some(now)),
            foreign_sessions::token_hash.eq(None::<String>),
        ))
        .execute(&mut self.conn()?)?;
        Ok(n == 1)
    }
}

fn read_generation(conn: &mut AnyConnection) -> Result<i64> {
    Ok(read_generation_query(conn)?)
}

fn read_generation_query(conn: &mut AnyConnection) -> QueryResult<i64> {
    cert_generation::table
        .find(1)
        .select(cert_generation::generation)
        .first(conn)
}

fn insert_session(conn: &mut AnyConnection, new: &NewSession<'_>) -> QueryResult<usize> {
    let row = IdCertRow {
        serial: new.serial,
        actor_name: new.actor_name,
        session_id_hex: hex::encode(new.session_id),
        cert_pem: new.cert_pem,
        not_before: new.not_before,
        not_after: new.not_after,
        issued_at: new.issued_at,
        revoked_at: None,
        token_hash: Some(new.token_hash),
    };
    diesel::insert_into(id_certs::table)
        .values(&row)
        .execute(conn)
}

fn revoke_by_serial(conn: &mut AnyConnection, serial: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        id_certs::table
            .find(serial)
            .filter(id_certs::revoked_at.is_null()),
    )
    .set((
        id_certs::revoked_at.eq(Some(now)),
        id_certs::token_hash.eq(None::<String>),
    ))
    .execute(conn)
}

/// Maps unique violations on session tables: the active-session index, else a serial.
fn session_conflict(err: DieselError) -> StoreError {
    conflict(err, |what| {
        if what.contains("session") {
            Conflict::ActiveSessionId
        } else {
            Conflict::Serial
        }
    })
}

/// 128 random bits for row IDs, from the operating system.
fn rand_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn decode_session_id(hex_text: &str) -> String {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// Turns a unique-constraint violation into `StoreError::Conflict`, naming the rule with
/// `which`, which is given the constraint name (PostgreSQL) or message (SQLite).
fn conflict(err: DieselError, which: impl Fn(&str) -> Conflict) -> StoreError {
    match &err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let what = info.constraint_name().unwrap_or(info.message());
            StoreError::Conflict(which(what))
        }
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::r2d2::HandleError;

    #[test]
    fn connect_failures_are_logged_once_per_interval_with_a_count() {
        let log = LogConnectFailure::default();
        let fail =
            || diesel::r2d2::Error::ConnectionError(ConnectionError::BadConnection("down".into()));
        log.handle_error(fail());
        let first = log
            .last
            .lock()
            .unwrap()
            .0
            .expect("the first failure is logged");
        for _ in 0..3 {
            log.handle_error(fail());
        }
        assert_eq!(*log.last.lock().unwrap(), (Some(first), 3));
        // An interval later the next failure is logged, with the three in between counted.
        log.last.lock().unwrap().0 = Some(first - CONNECT_FAILURE_LOG_INTERVAL);
        log.handle_error(fail());
        let (at, unlogged) = *log.last.lock().unwrap();
        assert!(at.unwrap() >= first);
        assert_eq!(unlogged, 0);
    }

    #[test]
    fn broken_connections_and_busy_databases_are_unavailable() {
        let db = |kind, message: &str| {
            StoreError::from(DieselError::DatabaseError(
                kind,
                Box::new(message.to_owned()),
            ))
        };
        for err in [
            db(
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            db(
                DatabaseErrorKind::UnableToSendCommand,
                "no connection to the server",
            ),
            db(DatabaseErrorKind::Unknown, "database is locked"),
        ] {
            assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        }
        assert!(matches!(
            db(DatabaseErrorKind::CheckViolation, "check failed"),
            StoreError::Database(_)
        ));
        assert!(matches!(
            StoreError::from(DieselError::NotFound),
            StoreError::Database(_)
        ));
    }

    fn temp_store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "polyhome-store-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(dir.join("db.sqlite").to_str().unwrap(), 4).unwrap();
        (store, dir)
    }

    fn session<'a>(serial: &'a str, sid: &'a str, token: &'a str) -> NewSession<'a> {
        NewSession {
            serial,
            actor_name: "alice",
            session_id: sid,
            cert_pem: "PEM",
            not_before: 100,
            not_after: 200,
            issued_at: 100,
            token_hash: token,
        }
    }

    #[test]
    fn actor_names_are_unique() {
        let (store, dir) = temp_store();
        store.create_actor("alice", "h", 1).unwrap();
        assert!(matches!(
            store.create_actor("alice", "h2", 2),
            Err(StoreError::Conflict(Conflict::ActorName))
        ));
        assert_eq!(store.actor("alice").unwrap().unwrap().password_hash, "h");
        assert!(store.actor("bob").unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn session_ids_are_unique_while_active() {
        let (store, dir) = temp_store();
        store.create_actor("alice", "h", 1).unwrap();
        store.create_session(&session("01", "s\0x", "t1")).unwrap();
        assert!(matches!(
            store.create_session(&session("02", "s\0x", "t2")),
            Err(StoreError::Conflict(Conflict::ActiveSessionId))
        ));
        assert!(matches!(
            store.create_session(&session("01", "other", "t3")),
            Err(StoreError::Conflict(Conflict::Serial))
        ));
        let s = store.session_by_token_hash("t1").unwrap().unwrap();
        assert_eq!(s.session_id, "s\0x");
        assert!(store.revoke_session("01", 150).unwrap());
        assert!(!store.revoke_session("01", 151).unwrap());
        assert!(store.session_by_token_hash("t1").unwrap().is_none());
        store.create_session(&session("02", "s\0x", "t2")).unwrap();
        // valid at 120: both; at 160: only the new one
        assert_eq!(store.actor_certs_at("alice", 120, None).unwrap().len(), 2);
        assert_eq!(
            store
                .actor_certs_at("alice", 160, Some("s\0x"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .actor_certs_at("alice", 160, Some("nope"))
                .unwrap()
                .len(),
            0
        );
        assert_eq!(store.actor_certs_at("alice", 201, None).unwrap().len(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_expired_session_frees_its_session_id() {
        let (store, dir) = temp_store();
        store.create_actor("alice", "h", 1).unwrap();
        store.create_session(&session("01", "s", "t1")).unwrap(); // valid 100..=200
        let mut later = session("02", "s", "t2");
        later.issued_at = 201;
        later.not_before = 201;
        later.not_after = 300;
        store.create_session(&later).unwrap();
        assert!(store.session_by_token_hash("t1").unwrap().is_none());
        // History keeps the first certificate for its time.
        assert_eq!(
            store.actor_certs_at("alice", 150, Some("s")).unwrap().len(),
            1
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn server_keys_by_time() {
        let (store, dir) = temp_store();
        assert!(store.current_server_key().unwrap().is_none());
        let key = |serial: &str, nb, na, created| ServerKey {
            serial: serial.into(),
            cert_pem: format!("cert {serial}"),
            key_pkcs8_hex: "00".into(),
            not_before: nb,
            not_after: na,
            created_at: created,
        };
        store.add_server_key(&key("a", 0, 100, 0)).unwrap();
        store.add_server_key(&key("b", 50, 200, 50)).unwrap();
        assert_eq!(store.current_server_key().unwrap().unwrap().serial, "b");
        assert_eq!(store.server_cert_at(10).unwrap().unwrap(), "cert a");
        assert_eq!(store.server_cert_at(60).unwrap().unwrap(), "cert b");
        assert!(store.server_cert_at(300).unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn challenges_are_used_once() {
        let (store, dir) = temp_store();
        store.add_challenge("c1", 100, 10).unwrap();
        store.add_challenge("c2", 100, 10).unwrap();
        assert!(matches!(
            store.add_challenge("c1", 100, 10),
            Err(StoreError::Conflict(Conflict::Challenge))
        ));
        assert_eq!(store.use_challenge("c1", 50).unwrap(), ChallengeUse::Fresh);
        assert_eq!(store.use_challenge("c1", 51).unwrap(), ChallengeUse::Used);
        assert_eq!(
            store.use_challenge("c2", 101).unwrap(),
            ChallengeUse::Expired
        );
        assert_eq!(store.use_challenge("c2", 102).unwrap(), ChallengeUse::Used);
        assert_eq!(
            store.use_challenge("nope", 50).unwrap(),
            ChallengeUse::Unknown
        );
        assert_eq!(store.purge_challenges(101).unwrap(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rotation_replaces_the_active_certificate_atomically() {
        let (store, dir) = temp_store();
        store.create_actor("alice", "h", 1).unwrap();
        store.create_session(&session("01", "s", "t1")).unwrap();
        let mut new = session("02", "s", "t2");
        new.issued_at = 150;
        new.not_before = 150;
        assert!(store.rotate_session("01", &new).unwrap());
        assert!(store.session_by_token_hash("t1").unwrap().is_none());
        assert_eq!(
            store.session_by_token_hash("t2").unwrap().unwrap().serial,
            "02"
        );
        // The old certificate is history: valid at 120, not at 160.
        assert_eq!(
            store.actor_certs_at("alice", 160, Some("s")).unwrap().len(),
            1
        );
        assert_eq!(
            store.actor_certs_at("alice", 120, Some("s")).unwrap().len(),
            1
        );
        // Rotating a revoked certificate changes nothing.
        assert!(!store
            .rotate_session("01", &session("03", "s", "t3"))
            .unwrap());
        assert_eq!(store.count_certs("alice").unwrap(), 2);
        assert!(store.revoke_session_id("alice", "s", 170).unwrap());
        assert!(!store.revoke_session_id("alice", "s", 171).unwrap());
        assert!(store.session_by_token_hash("t2").unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn foreign_sessions_replace_each_other() {
        let (store, dir) = temp_store();
        let new = |token: &'static str| NewForeignSession {
            fid: "bob@other.example",
            session_id: "s",
            home_domain: "other.example",
            cert_pem: "PEM",
            cert_serial: "0a",
            cert_not_after: 100,
            token_hash: token,
            now: 10,
        };
        let first = store.open_foreign_session(&new("f1")).unwrap();
        let found = store.foreign_session_by_token_hash("f1").unwrap().unwrap();
        assert_eq!(
            (found.id.as_str(), found.session_id().as_str()),
            (first.as_str(), "s")
        );
        let second = store.open_foreign_session(&new("f2")).unwrap();
        assert_ne!(first, second);
        assert!(store.foreign_session_by_token_hash("f1").unwrap().is_none());
        assert!(store
            .update_foreign_session(&second, "PEM2", "0b", 100, "f3", 20)
            .unwrap());
        assert!(store.foreign_session_by_token_hash("f2").unwrap().is_none());
        assert_eq!(
            store
                .foreign_session_by_token_hash("f3")
                .unwrap()
                .unwrap()
                .cert_pem,
            "PEM2"
        );
        assert!(store.revoke_foreign_session(&second, 30).unwrap());
        assert!(store.foreign_session_by_token_hash("f3").unwrap().is_none());
        assert!(!store
            .update_foreign_session(&second, "PEM3", "0c", 100, "f4", 40)
            .unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
