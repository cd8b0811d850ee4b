-- Chunk streams: uploads fed by chunks of any size, staged in R2 and coalesced into parts.
ALTER TABLE uploads ADD COLUMN mode TEXT NOT NULL DEFAULT 'parts' CHECK (mode IN ('parts', 'stream'));
-- Sequence number of the chunk marked final, once one is.
ALTER TABLE uploads ADD COLUMN final_chunk INTEGER;
-- Coalescing cursor: the first chunk not yet wholly in a part, how many of its bytes are, and
-- the next part number to write. Only the lease holder moves it.
ALTER TABLE uploads ADD COLUMN next_chunk INTEGER NOT NULL DEFAULT 1;
ALTER TABLE uploads ADD COLUMN next_chunk_offset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN next_part INTEGER NOT NULL DEFAULT 1;
ALTER TABLE uploads ADD COLUMN committed_bytes INTEGER NOT NULL DEFAULT 0;
-- Coalescing of one stream is serialised by this lease.
ALTER TABLE uploads ADD COLUMN lease_id TEXT;
ALTER TABLE uploads ADD COLUMN lease_until INTEGER;

CREATE TABLE chunks (
  upload_id TEXT NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  size INTEGER NOT NULL,
  -- MD5 of the chunk (R2's etag of the staged object): tells a same-bytes re-send from a change.
  md5 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('staged', 'coalesced')),
  staged_at INTEGER NOT NULL,
  PRIMARY KEY (upload_id, seq)
) WITHOUT ROWID;
