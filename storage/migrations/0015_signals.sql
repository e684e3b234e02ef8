-- Misuse signals (grants.Signals), computed when a request is made, each by one index range read
-- however long the log: the person's last grant of the resource (first access), the resource's
-- recent approved durations (duration far above its median; the index covers the query, so the
-- 200 latest are read from it without a table row each), the same request denied lately.
-- The person's requests per day use requests_requester (requester, created_at) from 0001.
--
-- requests.signals keeps the names of the signals a request raised, comma-separated, so that the
-- approval card shows them on every redraw without recomputing them against a log that has moved
-- on ('' for none, and for requests from before this migration).

ALTER TABLE requests ADD COLUMN signals TEXT NOT NULL DEFAULT '';
CREATE INDEX requests_resource_durations ON requests (resource, state, created_at, kind, duration_us);
CREATE INDEX requests_requester_resource ON requests (requester, resource, state, decided_at);
CREATE INDEX grants_subject_resource ON grants (subject, resource, created_at);
