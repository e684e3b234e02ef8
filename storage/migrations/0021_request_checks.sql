-- The outside checks of a request (grants.Check: the ticket its reason names, who is on call),
-- as made when the request was made, so that the approval card shows them on every redraw
-- without asking the ticket system or the on-call rota again. JSON array; '' for none, and for
-- requests from before this migration.

ALTER TABLE requests ADD COLUMN checks TEXT NOT NULL DEFAULT '';
