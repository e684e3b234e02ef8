-- The policy in force at the last start (config/policyaudit): the config's redacted, semantic
-- snapshot (JSON; a value from ${...} is kept as its reference, never the value), its hash, and
-- the audit event that recorded it. At every start `accessbot serve` compares its own snapshot
-- with this row, in one transaction with the audit head locked: a difference is appended as a
-- config.changed event and the row replaced; the same snapshot (a replica, a restart) records
-- nothing. One row, id 1. Same conventions as 0001: the common subset of SQLite and
-- PostgreSQL, times as BIGINT unix microseconds.
CREATE TABLE config_snapshot (
    id          INTEGER NOT NULL PRIMARY KEY,
    sha256      TEXT    NOT NULL,
    snapshot    TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    recorded_at BIGINT  NOT NULL
);

-- The digest's "policy changes" and the report's policy in force read the config.changed events
-- of a window by type (ScanAuditOfType), without scanning every event of the window.
CREATE INDEX audit_events_type_at ON audit_events (type, at);
