-- Discord gives bots no email, so a Discord account is tied to a person (their accessbot ID,
-- an email) by the config's discord.users or by a link the person asks for with
-- `/access link <email>` and an admin, or the person from another platform, confirms. Same
-- conventions as 0001: the common subset of SQLite and PostgreSQL, times as BIGINT unix
-- microseconds, 0 for "no time".

-- One row per Discord account: pending while confirmed_at is 0. code_hash is the SHA-256 (hex)
-- of the code that confirms it from another platform, never the code; via says how it was
-- confirmed ("admin", "code").
CREATE TABLE discord_links (
    user_id      TEXT   NOT NULL PRIMARY KEY,
    person_id    TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    code_hash    TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    confirmed_at BIGINT NOT NULL,
    confirmed_by TEXT   NOT NULL,
    via          TEXT   NOT NULL
);
-- A person has at most one confirmed Discord account; the lookup of a person's link uses it.
CREATE UNIQUE INDEX discord_links_person ON discord_links (person_id) WHERE confirmed_at <> 0;
CREATE INDEX discord_links_pending ON discord_links (confirmed_at, requested_at);
