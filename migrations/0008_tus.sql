-- tus 1.0 uploads (issue 11): what the tus protocol adds to an upload. The bytes, the parts and
-- the completion are the upload's own (table uploads); the offset and the tail shorter than a
-- part live in the upload's Durable Object. A row here makes an upload a tus upload.
CREATE TABLE tus_uploads (
  upload_id TEXT PRIMARY KEY REFERENCES uploads (upload_id) ON DELETE CASCADE,
  -- NULL while the length is deferred (Upload-Defer-Length: 1).
  upload_length INTEGER,
  -- The Upload-Metadata header as the client sent it, answered back on HEAD.
  upload_metadata TEXT,
  -- 'single', 'partial' (bytes staged for a final upload) or 'final' (assembled from partials).
  concat TEXT NOT NULL CHECK (concat IN ('single', 'partial', 'final')),
  -- For a final upload: the partial upload ids in order, as a JSON array.
  partials TEXT,
  -- For a partial upload: the final upload that took it (a partial goes into one final only).
  used_by TEXT
) WITHOUT ROWID;

CREATE INDEX tus_uploads_used_by ON tus_uploads (used_by) WHERE used_by IS NOT NULL;
