-- Chunk streams held by a Durable Object (issue 13): where a stream keeps its chunks until they
-- are in a part. 'd1' (every stream opened before this migration): each chunk is an R2 object
-- and a row in chunks, coalesced by the consumer. 'object': the stream's ChunkStream Durable
-- Object holds them in its SQLite storage and writes the parts itself; D1 sees only parts.
ALTER TABLE uploads ADD COLUMN chunk_store TEXT NOT NULL DEFAULT 'd1' CHECK (chunk_store IN ('d1', 'object'));
