-- Holds that know their owner (docs/reliability.md): every `accessbot serve` process has a
-- random ID for its life and refreshes its row here a few times a second, and the scheduler
-- records that ID on every grant it claims for an adapter call. Any process takes over the holds
-- of an owner whose heartbeat has stopped for longer than scheduler.heartbeat_timeout, instead
-- of waiting for the claim (twice the call timeout) to lapse. Same conventions as 0001: the
-- common subset of SQLite and PostgreSQL, times as BIGINT unix microseconds.

-- One row per process that ever ran; a row unseen for a day is pruned by the next process to
-- start. last_seen is the process's own clock (replicas' clocks must agree, as they must for
-- expiries anyway).
CREATE TABLE processes (
    id         TEXT   NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE INDEX processes_last_seen ON processes (last_seen);

-- The process whose claim holds the grant ('' when no claim is recorded: none taken, the claim
-- finished, or taken under the legacy hold rule). Only holds in progress are indexed.
ALTER TABLE grants ADD COLUMN claim_owner TEXT NOT NULL DEFAULT '';
CREATE INDEX grants_claim_owner ON grants (claim_owner, next_attempt_at) WHERE claim_owner <> '';
