-- The RFC 6962 Merkle tree over the audit events (audit/translog), kept beside the hash chain so
-- that a signed checkpoint (tree size, root hash) proves an event is in the log, and that a later
-- log extends an earlier one, with O(log n) hashes read instead of the whole log.
--
-- Leaf n-1 is the event with seq n, hashed as audit.LeafHash (SHA-256(0x00 || canonical event)).
-- Leaves are not stored: they are recomputed from audit_events. audit_tree holds every complete
-- interior node, written as the tree grows (one row per event on average); a node never changes
-- once written. audit_head gains the tree's size and its right edge (the compact range: the roots
-- of the perfect subtrees covering leaves [0, tree_size), as hex SHA-256 hashes one after
-- another), updated by the same UPDATE that moves the head, in the append's transaction.
--
-- A database from before this migration has tree_size 0 under a longer log: storage's
-- SyncAuditTree builds the tree for the existing events, and appends keep it up to date after.
-- BYTEA is PostgreSQL's byte string; SQLite stores the 32 bytes as a blob under that name.

ALTER TABLE audit_head ADD COLUMN tree_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN tree_range TEXT NOT NULL DEFAULT '';

CREATE TABLE audit_tree (
    level INTEGER NOT NULL,
    idx   BIGINT  NOT NULL,
    hash  BYTEA   NOT NULL,
    PRIMARY KEY (level, idx)
);
