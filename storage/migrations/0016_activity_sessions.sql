-- What was done with the access (issue 15): the activity sampler lists the sessions of active
-- grants' accounts at the target every activity.sample_interval and writes one
-- activity.session_seen audit event per session, when it ends or its grant does. This table is
-- the sampler's memory between samples, so a restart or a second replica neither loses a session
-- nor writes its event twice. Same conventions as 0001: the common subset of SQLite and
-- PostgreSQL, times as BIGINT unix microseconds (0 for unknown).

-- One row per session seen: made by the first sample that finds it, last_seen moved by each
-- later one, closed_at set (once, by a compare-and-swap on closed_at = 0) in the transaction
-- that appends its event. Closed rows stay, so a late sample of a replica cannot open the same
-- session again; rows of grants that ended long ago are pruned by the sampler.
CREATE TABLE activity_sessions (
    grant_id    TEXT   NOT NULL,
    session_key TEXT   NOT NULL,
    resource    TEXT   NOT NULL,
    account     TEXT   NOT NULL,
    client      TEXT   NOT NULL,
    application TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    closed_at   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (grant_id, session_key)
);
CREATE INDEX activity_sessions_open ON activity_sessions (grant_id) WHERE closed_at = 0;
CREATE INDEX activity_sessions_closed ON activity_sessions (closed_at) WHERE closed_at <> 0;

-- Whether a grant was active, and whether any session of it was seen (the never-used list), are
-- read by grant ID. Partial indexes, so that appending any other event costs nothing more: a
-- query uses them only where it names the same type as a literal (storage.UnusedGrants does).
CREATE INDEX audit_events_session_grant ON audit_events (grant_id) WHERE type = 'activity.session_seen';
CREATE INDEX audit_events_active_grant ON audit_events (grant_id) WHERE type = 'grant.active';
