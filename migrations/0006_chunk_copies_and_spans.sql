-- Chunk streams (issue 10).
-- Where the accepted copy of a chunk lives. Every attempt to send a chunk writes its own staging
-- key, so a refused re-send never touches the accepted copy; the row switches to a new copy only
-- once that copy is verified, and the superseded one is deleted after. NULL for rows made before
-- this migration: their copy is at the chunk's plain staging key.
ALTER TABLE chunks ADD COLUMN staged_key TEXT;
-- 1 once the chunk's bytes were copied into a span (below): its own copy is gone and it can no
-- longer change (its state is then 'coalesced'; the row stays for status and re-send checks).
ALTER TABLE chunks ADD COLUMN merged INTEGER NOT NULL DEFAULT 0;
-- The coalescer pages through the chunks not yet merged; this keeps that cheap however many are.
CREATE INDEX chunks_unmerged ON chunks (upload_id, seq) WHERE merged = 0;

-- Runs of contiguous chunks copied into one staged object, so that a part made of more chunks
-- than one invocation may read (up to a million 1-byte chunks) is written from a few objects.
CREATE TABLE chunk_spans (
  upload_id TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  size INTEGER NOT NULL,
  staged_key TEXT NOT NULL,
  md5 TEXT NOT NULL,
  PRIMARY KEY (upload_id, first_seq)
) WITHOUT ROWID;
