-- Step-up approval (internal/stepup): an approval of a resource with `step_up: oidc` counts
-- only after the approver logs in again at the identity provider. Between the chat click and
-- the provider's callback the attempt lives here, so any replica can finish a login another
-- started and a crash loses nothing but a login to redo. Same conventions as 0001: the common
-- subset of SQLite and PostgreSQL, times as BIGINT unix microseconds, 0 for "no time".

-- One row per link given out. link_hash and state_hash are hex SHA-256 of the link's opaque ID
-- and of the OAuth state, never the values; nonce and verifier (PKCE) are one-time values of
-- the login, useless without the provider's code. A link is started once (started_at) and its
-- state comes back once (finished_at).
CREATE TABLE stepup_attempts (
    link_hash         TEXT   NOT NULL PRIMARY KEY,
    request_id        TEXT   NOT NULL,
    decision          TEXT   NOT NULL,
    actor_id          TEXT   NOT NULL,
    actor_email       TEXT   NOT NULL,
    actor_name        TEXT   NOT NULL,
    actor_platform    TEXT   NOT NULL,
    actor_platform_id TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    link_expires_at   BIGINT NOT NULL,
    state_hash        TEXT   NOT NULL,
    nonce             TEXT   NOT NULL,
    verifier          TEXT   NOT NULL,
    started_at        BIGINT NOT NULL,
    finished_at       BIGINT NOT NULL
);
-- The callback finds its attempt by the state's hash; unstarted rows all have ''.
CREATE UNIQUE INDEX stepup_attempts_state ON stepup_attempts (state_hash) WHERE state_hash <> '';
CREATE INDEX stepup_attempts_created ON stepup_attempts (created_at);
