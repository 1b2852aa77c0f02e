-- Challenge strings handed out by GET /p2core/challenge (core §4.2). A row is used up by the
-- first identify attempt that presents it, whatever the outcome; used_at records that.
CREATE TABLE challenges (
    challenge TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

-- Sessions of actors from other home servers, opened with POST /p2core/session/identify.
-- A row with revoked_at NULL is active; its ID-Cert is the one last presented for it.
CREATE TABLE foreign_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    fid TEXT NOT NULL,
    session_id_hex TEXT NOT NULL,
    home_domain TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    cert_not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT,
    token_hash TEXT UNIQUE
);
CREATE UNIQUE INDEX foreign_sessions_active ON foreign_sessions (fid, session_id_hex)
    WHERE revoked_at IS NULL;
