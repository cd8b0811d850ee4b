-- The listing API (issue 12): GET /uploads pages through uploads by keyset, (sort column,
-- upload_id), so each order needs an index that yields rows in that order and lets a cursor
-- seek straight to its place, whatever the table's size. Each also carries object_key, so a
-- key prefix (every listing of a prefix-limited API key has one) is checked inside the index
-- while walking it, with no table read for the keys it skips: a page never sorts, however many
-- uploads the prefix holds (sorting the rows of a key range cost ~3 s per page at 1,000,000).
--
-- newest / oldest: walk created_at (upload_id breaks ties). It carries the state too: a filter
-- of several states is checked while walking it (sorting the rows of several state ranges cost
-- ~400 ms a page at 1,000,000).
CREATE INDEX uploads_by_created ON uploads (created_at, upload_id, object_key, state);
-- newest / oldest of one state: seek to the state, then walk created_at.
CREATE INDEX uploads_by_state_created ON uploads (state, created_at, upload_id, object_key);
-- The summary of a prefix: a range of object keys.
CREATE INDEX uploads_by_key ON uploads (object_key);
-- expiring (open uploads, soonest first) and the sweep (state = 'open' AND expires_at <= now):
-- the old (state, expires_at) index, extended the same way.
DROP INDEX uploads_by_state_expiry;
CREATE INDEX uploads_by_state_expiry ON uploads (state, expires_at, upload_id, object_key);
