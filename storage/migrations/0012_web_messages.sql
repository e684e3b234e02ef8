-- The local web chat's messages (bot/web): no outside service remembers them, so they are
-- kept here for a restarted `serve` or demo to show the history, bounded per channel (the chat
-- keeps a channel's newest 500 and prunes the rest as it posts). Only what accessbot says in a
-- channel is kept; what a person types, and replies only they see, are gone after a restart,
-- as a Slack slash command and its private answer are. Same conventions as 0001: the common subset
-- of SQLite and PostgreSQL, times as BIGINT unix microseconds, 0 for "no time".

-- pos orders a channel's messages (the chat's sequence when the message was first posted);
-- version is the sequence of its last change: a write with a lower version than the row's is
-- ignored. view_json is the rendered bot.View.
CREATE TABLE web_messages (
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    pos        BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    view_json  TEXT   NOT NULL,
    posted_at  BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel, message_id)
);
-- Loading in order, and pruning each channel to its newest.
CREATE INDEX web_messages_pos ON web_messages (channel, pos);
