-- The digest's index: the audit events by type and time, covering every column the digest reads
-- (storage.AuditTypeCounts, storage.ScanAuditBrief) so that a digest over a million events reads
-- this index alone, in order, and never the wide rows (hashes, tree nodes). The data is covered
-- by its first 200 characters: the keys the digest reads (kind, approvals, expires_at, forced,
-- lateness_ms, breakglass) come early in the sorted JSON of their events, and a prefix keeps
-- the index row within PostgreSQL's limit whatever a reason or note holds; the digest reads the
-- whole row when a key it needs is past the prefix.
CREATE INDEX audit_events_digest ON audit_events (type, at, seq, request_id, grant_id, resource, subject, (substr(data, 1, 200)));
