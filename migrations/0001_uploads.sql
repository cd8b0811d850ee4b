-- One row per multipart upload. D1 is the only record of open uploads: the R2 binding cannot
-- list them.
CREATE TABLE uploads (
  upload_id TEXT PRIMARY KEY,
  object_key TEXT NOT NULL,
  api TEXT NOT NULL CHECK (api IN ('native', 'compat')),
  state TEXT NOT NULL CHECK (state IN ('open', 'completing', 'completed', 'aborted', 'failed')),
  part_size INTEGER,
  expected_parts INTEGER,
  content_type TEXT,
  custom_metadata TEXT,
  stale_after_seconds INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL,
  -- last_activity_at + stale_after_seconds, kept in a column so the sweep can use an index.
  expires_at INTEGER NOT NULL,
  -- Set while one invocation owns the completion; a claim older than the lease is taken over.
  claim_id TEXT,
  claimed_at INTEGER,
  complete_attempts INTEGER NOT NULL DEFAULT 0,
  completed_at INTEGER,
  object_etag TEXT,
  object_size INTEGER,
  failure_reason TEXT,
  abort_reason TEXT,
  -- D1 says aborted but R2 has not confirmed the abort yet; the cron retries it.
  r2_abort_pending INTEGER NOT NULL DEFAULT 0,
  -- Bumped each time R2 accepts a part, so every part event carries its place in R2's order.
  part_seq INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX uploads_by_state_expiry ON uploads (state, expires_at);
CREATE INDEX uploads_by_claim ON uploads (claim_id) WHERE claim_id IS NOT NULL;
CREATE INDEX uploads_abort_pending ON uploads (r2_abort_pending) WHERE r2_abort_pending = 1;

-- The newest event for each part. seq is the upload's part_seq when R2 accepted the part, so a
-- re-uploaded part keeps its newest etag whatever order the events arrive in.
CREATE TABLE parts (
  upload_id TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
  part_number INTEGER NOT NULL,
  etag TEXT NOT NULL,
  size INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;

-- Operational counters the consumer keeps (e.g. malformed messages it dropped).
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
