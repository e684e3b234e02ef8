-- An account at a target belongs to one person. Account names come from a template over the
-- person (by default the local part of their email), so alice@example.com and
-- alice@evil.example would both be "alice"; the first person a request names for an account
-- owns it, and a request of anyone else for it is refused (issue 13). Rows are never deleted:
-- an account that was used by someone stays theirs. Same conventions as 0001: the common
-- subset of SQLite and PostgreSQL, times as BIGINT unix microseconds.

-- scope is the resource name, or the account_scope several resources on one target share;
-- account is the account name lowercased (targets that fold case would see one account);
-- person_id is the owner's canonical person ID (grants.CanonicalPerson, aliases resolved);
-- request_id is the request that first used it.
CREATE TABLE account_owners (
    scope      TEXT   NOT NULL,
    account    TEXT   NOT NULL,
    person_id  TEXT   NOT NULL,
    request_id TEXT   NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (scope, account)
);
CREATE INDEX account_owners_person ON account_owners (person_id);
