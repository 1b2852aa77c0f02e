-- One schema for SQLite and PostgreSQL: only types and statements both understand.
-- Times are UNIX seconds. Binary values (private keys, session IDs) are lower-case hex text.

CREATE TABLE actors (
    -- canonical lower-case actor name; the primary key makes names unique case-insensitively
    name TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- The server's identity keys and root ID-Certs, newest last. Kept forever: certificates issued
-- under an old key are verified with the root certificate valid at their time.
CREATE TABLE server_keys (
    serial TEXT PRIMARY KEY NOT NULL,
    cert_pem TEXT NOT NULL,
    key_pkcs8_hex TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX server_keys_validity ON server_keys (not_before, not_after);

-- Every ID-Cert issued to an actor; a row with revoked_at NULL is an active session.
CREATE TABLE id_certs (
    serial TEXT PRIMARY KEY NOT NULL,
    actor_name TEXT NOT NULL REFERENCES actors (name),
    session_id_hex TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    -- SHA-256 of the session token, hex; NULL once the session is revoked
    token_hash TEXT UNIQUE
);
-- At most one active session per session ID and actor (core §7.1.1.3).
CREATE UNIQUE INDEX id_certs_active_session ON id_certs (actor_name, session_id_hex)
    WHERE revoked_at IS NULL;
CREATE INDEX id_certs_by_actor ON id_certs (actor_name, not_before);
