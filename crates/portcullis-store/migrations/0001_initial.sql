-- Portable SQL: the same text runs on SQLite and PostgreSQL. Identifiers are
-- random text ids, times are Unix milliseconds (BIGINT), flags are 0/1
-- BIGINT, digests are lowercase hex TEXT. Nothing here depends on a dialect.

CREATE TABLE consumers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    groups_csv TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    consumer_id TEXT NOT NULL REFERENCES consumers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (consumer_id, name)
);

-- kind: api_key (lookup = the key's public prefix, secret_hash = SHA-256 hex),
-- basic (lookup = user name, secret_hash = argon2id PHC), mtls (lookup =
-- certificate SHA-256 fingerprint hex, no secret).
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    lookup TEXT NOT NULL,
    secret_hash TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    replaced_by TEXT,
    changed_seq BIGINT NOT NULL,
    UNIQUE (kind, lookup)
);
CREATE INDEX credentials_app ON credentials (app_id);
CREATE INDEX credentials_changed ON credentials (changed_seq);

-- Every credential change, deletions included, by audit sequence number, so
-- an in-memory index can follow the store without reloading it whole.
CREATE TABLE credential_changes (
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    lookup TEXT NOT NULL,
    PRIMARY KEY (seq, kind, lookup)
);

CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    require_totp BIGINT NOT NULL,
    builtin BIGINT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE admin_users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL REFERENCES roles (name),
    password_hash TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    must_change_password BIGINT NOT NULL,
    totp_secret TEXT,
    totp_last_step BIGINT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE password_history (
    user_id TEXT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    second_factor_done BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);

CREATE TABLE source_lockouts (
    source TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE subject_revocations (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    -- Events at or below anchor_seq were removed by retention; anchor_hash is
    -- the chain value at anchor_seq, covered by a signed checkpoint.
    anchor_seq BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, anchor_seq, anchor_hash) VALUES (
    1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
    0, '0000000000000000000000000000000000000000000000000000000000000000'
);

CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at_ms);

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

INSERT INTO roles (name, description, permissions, require_totp, builtin, version) VALUES
    ('admin', 'Everything, including admin users and roles.',
     'consumers:read consumers:write credentials:write revocations:read revocations:write users:read users:write config:read audit:read portal:moderate tokens:write', 1, 1, 1),
    ('operator', 'Runs the gateway: consumers, apps, keys, revocations; no user management.',
     'consumers:read consumers:write credentials:write revocations:read revocations:write config:read tokens:write', 1, 1, 1),
    ('auditor', 'Reads everything, the audit log included; changes nothing.',
     'consumers:read revocations:read users:read config:read audit:read', 1, 1, 1),
    ('portal-moderator', 'Reviews developer portal sign-ups and apps.',
     'consumers:read portal:moderate', 0, 1, 1);
