-- The signed requests (Slack, Discord) the deployment accepted, so that replicas on one
-- PostgreSQL database accept each request once: a captured request sent again to another
-- replica is refused. Same conventions as 0001: the common subset of SQLite and PostgreSQL,
-- times as BIGINT unix microseconds. (On SQLite, one process, the servers keep this in memory;
-- the table exists there too, unused.)

-- key_hash is the SHA-256 (hex) of the platform-named signature ("slack:v0=...",
-- "discord:<hex>"): a signature is no secret, but its hash keeps rows small and even. A row
-- may go once expires_at is past: by then its request fails the freshness check anyway.
CREATE TABLE replay_keys (
    key_hash   TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_keys_expires ON replay_keys (expires_at);
