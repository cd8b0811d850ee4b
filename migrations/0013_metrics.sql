-- Metrics (issue 14): GET /uploads/summary reports what ended in the last 24 hours (counts,
-- bytes completed, last part -> completed latency) from D1, whether or not Analytics Engine is
-- bound. An upload's updated_at is the time it ended once it has ended (nothing updates it
-- afterwards), so ended uploads by (state, updated_at) give each state's window as one range.
-- The index carries what the summary reads (the key for a prefix-limited caller, the size and
-- both clocks of the latency), so it never reads the table. Partial: only ended uploads are in
-- it, so the writes of open uploads (every part moves updated_at) never touch it.
-- Additive: a new index only; code that does not know it runs as before.
CREATE INDEX uploads_ended ON uploads (state, updated_at, object_key, object_size, completed_at, last_activity_at)
  WHERE state IN ('completed', 'failed', 'aborted');
