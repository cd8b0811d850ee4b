-- Retention (issue 14): the cron forgets ended uploads in two steps, each through its own index,
-- so a run never walks rows it cannot prune however many uploads the table holds.
--   1. RETENTION_DETAIL_DAYS after an upload ended, its parts, chunks and chunk spans go.
--   2. RETENTION_UPLOAD_DAYS after, the upload row goes, leaving a tombstone (below).
-- Additive only: new columns with defaults, a new table, new indexes and a trigger, so both
-- Workers keep running their previous code while it is applied.

-- When the upload reached completed, aborted or failed; NULL while it is open or completing.
ALTER TABLE uploads ADD COLUMN ended_at INTEGER;
-- 1 once step 1 removed every part, chunk and span row of the upload.
ALTER TABLE uploads ADD COLUMN details_pruned INTEGER NOT NULL DEFAULT 0;

-- Every path that ends an upload (completion, failure, client abort, sweep abort, tus
-- termination) moves its state and its updated_at in one UPDATE; this trigger stamps ended_at
-- from that one place, so no path can forget it, and code deployed before this migration
-- stamps it too. Only a move out of a live state counts: an ended upload never ends again.
CREATE TRIGGER uploads_ended_at AFTER UPDATE OF state ON uploads
WHEN NEW.state IN ('completed', 'aborted', 'failed') AND OLD.state IN ('open', 'completing')
BEGIN
  UPDATE uploads SET ended_at = NEW.updated_at WHERE upload_id = NEW.upload_id;
END;

-- Uploads that ended before this migration: when they ended, as near as the row tells.
UPDATE uploads SET ended_at = coalesce(completed_at, updated_at)
WHERE state IN ('completed', 'aborted', 'failed') AND ended_at IS NULL;

-- Step 1 walks ended uploads, oldest first, that still have detail rows and whose R2 side is
-- clean. An upload that is open, completing or still pending an R2 abort is not in the index.
CREATE INDEX uploads_details_to_prune ON uploads (ended_at, upload_id)
WHERE ended_at IS NOT NULL AND details_pruned = 0 AND r2_abort_pending = 0;
-- Step 2 walks uploads whose detail rows are gone, oldest first.
CREATE INDEX uploads_to_prune ON uploads (ended_at, upload_id)
WHERE details_pruned = 1 AND r2_abort_pending = 0;

-- What is left of a pruned upload: enough for its status to answer 410 Gone with how and when
-- it ended, and for the same authorization as before (a prefix-limited API key must not learn
-- about uploads outside its prefix). Tombstones expire RETENTION_TOMBSTONE_DAYS after the end.
CREATE TABLE upload_tombstones (
  upload_id TEXT PRIMARY KEY,
  object_key TEXT NOT NULL,
  state TEXT NOT NULL,
  ended_at INTEGER NOT NULL,
  pruned_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX upload_tombstones_by_ended ON upload_tombstones (ended_at, upload_id);
