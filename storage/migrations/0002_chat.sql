-- Chat: the people bot can reach by DM, the outbox of messages to send, and where kept messages
-- (approval messages, break-glass announcements) were posted so that they can be updated.
-- Same conventions as 0001: BIGINT unix microseconds, 0 for "no time".

-- Who someone is on each platform, from the last command or click they sent there.
CREATE TABLE chat_people (
    person_id   TEXT   NOT NULL,
    platform    TEXT   NOT NULL,
    platform_id TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (person_id, platform)
);

-- The outbox: one row per message to send on one platform. The key makes enqueuing idempotent
-- (the audit event's sequence number and what the message is for). state is pending, sent or
-- failed; claim counts claims and is the token a sender completes its claim with.
CREATE TABLE chat_outbox (
    platform        TEXT    NOT NULL,
    delivery_key    TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    queue           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    person          TEXT    NOT NULL,
    seq             BIGINT  NOT NULL,
    idx             INTEGER NOT NULL,
    request_id      TEXT    NOT NULL,
    grant_id        TEXT    NOT NULL,
    view_json       TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    claim           BIGINT  NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    done_at         BIGINT  NOT NULL,
    PRIMARY KEY (platform, delivery_key)
);
-- The sender's question (what is due), the ordering within a queue, and pruning.
CREATE INDEX chat_outbox_due ON chat_outbox (platform, state, next_attempt_at);
CREATE INDEX chat_outbox_queue ON chat_outbox (platform, queue, state, seq, idx);
CREATE INDEX chat_outbox_done ON chat_outbox (state, done_at);

-- Where each kept message is: a channel and the platform's message ID.
CREATE TABLE chat_messages (
    platform   TEXT   NOT NULL,
    message    TEXT   NOT NULL,
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (platform, message)
);
