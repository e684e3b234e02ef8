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

-- Accounts already used: each grant made before this migration names its owner, the earliest
-- grant per resource and account winning. The scope is the resource's name (the config's
-- account_scope is not known here); a person's ID is as the grant stored it.
INSERT INTO account_owners (scope, account, person_id, request_id, first_seen)
SELECT g.resource, LOWER(g.account), g.subject, COALESCE(g.request_id, ''), g.created_at
FROM grants g
WHERE g.account <> '' AND NOT EXISTS (
    SELECT 1 FROM grants e
    WHERE e.resource = g.resource AND LOWER(e.account) = LOWER(g.account)
      AND (e.created_at < g.created_at OR (e.created_at = g.created_at AND e.id < g.id))
);
