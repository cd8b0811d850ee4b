-- The listing API (issue 12): GET /uploads pages through uploads by keyset, (sort column,
-- upload_id), so every order and the common filters need an index that yields rows in that
-- order and lets a cursor seek straight to its place, whatever the table's size.
--
-- newest / oldest, no state filter: walk created_at (upload_id breaks ties).
CREATE INDEX uploads_by_created ON uploads (created_at, upload_id);
-- newest / oldest of one state: seek to the state, then walk created_at.
CREATE INDEX uploads_by_state_created ON uploads (state, created_at, upload_id);
-- A prefix filter: a range of object keys.
CREATE INDEX uploads_by_key ON uploads (object_key);
-- expiring (open uploads, soonest first) and the sweep (state = 'open' AND expires_at <= now):
-- the old (state, expires_at) index with upload_id added, so ties page by keyset too.
DROP INDEX uploads_by_state_expiry;
CREATE INDEX uploads_by_state_expiry ON uploads (state, expires_at, upload_id);
