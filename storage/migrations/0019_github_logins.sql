-- GitHub logins people proved are theirs (`/access github-login`, GitHub's OAuth device flow):
-- resources with `account_from: github-login` grant to them. Same conventions as 0001: the
-- common subset of SQLite and PostgreSQL, times as BIGINT unix microseconds.

-- One row per person (person_id is grants.CanonicalPerson of their accessbot ID). login is
-- as GitHub spells it, login_key the same lowercased (GitHub logins are case-insensitive);
-- github_id is GitHub's numeric user ID, which a rename keeps. One GitHub account belongs to
-- one person: both are unique. verified_via says how (GitHub's device flow). No token is kept.
CREATE TABLE github_logins (
    person_id    TEXT   NOT NULL PRIMARY KEY,
    login        TEXT   NOT NULL,
    login_key    TEXT   NOT NULL,
    github_id    BIGINT NOT NULL,
    verified_at  BIGINT NOT NULL,
    verified_via TEXT   NOT NULL
);
CREATE UNIQUE INDEX github_logins_login ON github_logins (login_key);
CREATE UNIQUE INDEX github_logins_id ON github_logins (github_id);
