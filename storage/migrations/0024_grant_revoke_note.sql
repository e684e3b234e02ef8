-- Why accessbot ended a grant early on its own authority ("ticket OPS-42 closed (Done)"), so
-- that the holder's message and the approval card say so rather than "expired". '' for a grant
-- that ran its course or that a person revoked.

ALTER TABLE grants ADD COLUMN revoke_note TEXT NOT NULL DEFAULT '';
