-- The RFC 6962 Merkle tree over the audit events (audit/translog), kept beside the hash chain so
-- that a signed checkpoint (tree size, root hash) proves an event is in the log, and that a later
-- log extends an earlier one, with O(log n) hashes read instead of the whole log.
--
-- Leaf n-1 is the event with seq n, hashed as audit.LeafHash (SHA-256(0x00 || canonical event));
-- leaves are recomputed from the events, not stored. An interior node is complete when its last
-- leaf is appended: the node at level L (L >= 1) and index i when event (i+1)*2^L is. That event's
-- row keeps it: tree_nodes holds the raw 32-byte hashes of the nodes the event completed, level 1
-- first (as many as seq has trailing zero bits, one on average; NULL for none). So an append
-- writes no row besides its own and the head, and a node is one primary-key read.
--
-- audit_head gains the tree's size and right edge (the compact range: the roots of the perfect
-- subtrees covering leaves [0, tree_size), raw hashes one after another), moved by the UPDATE that
-- moves the head, in the append's transaction.
--
-- A database from before this migration has tree_size 0 under a longer log: storage's
-- SyncAuditTree fills tree_nodes for the existing events and catches the head up; appends keep
-- the tree from then on. BYTEA is PostgreSQL's byte string; SQLite keeps the bytes as a blob.

ALTER TABLE audit_events ADD COLUMN tree_nodes BYTEA;
ALTER TABLE audit_head ADD COLUMN tree_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN tree_range BYTEA;
