-- SSH public keys people register in chat (`/access ssh-key add`), which the sshcert adapter
-- signs. Same conventions as 0001: the common subset of SQLite and PostgreSQL, times as BIGINT
-- unix microseconds.

-- One row per key of a person. public_key is the key in authorized_keys form without its
-- comment ("ssh-ed25519 AAAA..."), fingerprint its SHA256 fingerprint ("SHA256:..."), comment
-- the comment it was pasted with (shown in lists, never used). The primary key is the unique
-- (person, fingerprint) and serves the lookup of a person's keys.
CREATE TABLE ssh_keys (
    person_id   TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    key_type    TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,
    comment     TEXT   NOT NULL,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (person_id, fingerprint)
);
