-- The first schema. The same SQL runs on SQLite and PostgreSQL, so it keeps to their common
-- subset: TEXT, BIGINT, INTEGER; times are BIGINT unix microseconds with 0 for "no time";
-- durations are BIGINT microseconds; maps are JSON text; booleans are INTEGER 0/1.

CREATE TABLE requests (
    id               TEXT    NOT NULL PRIMARY KEY,
    kind             TEXT    NOT NULL,
    resource         TEXT    NOT NULL,
    requester        TEXT    NOT NULL,
    requester_name   TEXT    NOT NULL,
    duration_us      BIGINT  NOT NULL,
    reason           TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    approvals_needed INTEGER NOT NULL,
    grant_id         TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    pending_until    BIGINT  NOT NULL,
    decided_at       BIGINT  NOT NULL,
    decided_by       TEXT    NOT NULL,
    note             TEXT    NOT NULL,
    version          BIGINT  NOT NULL
);
-- Listing newest first, and the scheduler's look for pending requests that ran out of time.
CREATE INDEX requests_created ON requests (created_at, id);
CREATE INDEX requests_requester ON requests (requester, created_at);
CREATE INDEX requests_state_pending ON requests (state, pending_until, id);

-- Foreign keys are deferred to commit, so a transaction may insert rows in any order.
CREATE TABLE reviews (
    request_id TEXT   NOT NULL REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,
    reviewer   TEXT   NOT NULL,
    decision   TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (request_id, reviewer)
);

CREATE TABLE grants (
    id              TEXT    NOT NULL PRIMARY KEY,
    -- NULL only for a grant without a request, which the foreign key then allows.
    request_id      TEXT    REFERENCES requests (id) DEFERRABLE INITIALLY DEFERRED,
    resource        TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    account         TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    break_glass     INTEGER NOT NULL,
    reviewed_by     TEXT    NOT NULL,
    reviewed_at     BIGINT  NOT NULL,
    reason          TEXT    NOT NULL,
    starts_at       BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    warn_at         BIGINT  NOT NULL,
    lease_data      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL,
    revoked_at      BIGINT  NOT NULL,
    revoked_by      TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    version         BIGINT  NOT NULL
);
CREATE INDEX grants_request ON grants (request_id);
CREATE INDEX grants_created ON grants (created_at, id);
CREATE INDEX grants_subject ON grants (subject, created_at);
-- The scheduler's three questions (expired, retry due, warning due) are each a range scan of
-- one state, cheap however many grants there are.
CREATE INDEX grants_state_expires ON grants (state, expires_at, id);
CREATE INDEX grants_state_attempt ON grants (state, next_attempt_at, id);
CREATE INDEX grants_state_warn ON grants (state, warn_at, id);

-- The audit log is append-only. seq is assigned by audit.Seal from the head, not by the database.
CREATE TABLE audit_events (
    seq        BIGINT NOT NULL PRIMARY KEY,
    at         BIGINT NOT NULL,
    type       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    resource   TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    request_id TEXT   NOT NULL,
    grant_id   TEXT   NOT NULL,
    data       TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_resource ON audit_events (resource, seq);
CREATE INDEX audit_events_subject ON audit_events (subject, seq);

-- The end of the chain, in one row that every appending transaction locks: appends serialize,
-- and a removed tail of audit_events no longer matches it.
CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Where consumers of the audit log (chat posters, SIEM sinks) are up to.
CREATE TABLE cursors (
    name       TEXT   NOT NULL PRIMARY KEY,
    seq        BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
