import type { StreamSummary } from "./db/chunks";
import type { PartsSummary } from "./db/parts";
import type { UploadRow } from "./db/uploads";
import { missingRanges } from "./ranges";
import type { UploadStatus } from "./schemas";

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

type StreamStatus = NonNullable<UploadStatus["stream"]>;

/** The status's `stream` object of a stream on the D1 chunk path (chunk_store 'd1'). */
export function streamStatusFromD1(row: UploadRow, stream: StreamSummary): StreamStatus {
  return {
    chunksReceived: stream.chunksReceived,
    finalChunk: row.final_chunk,
    contiguousThrough: stream.contiguousThrough,
    // The coalescer's cursor: every chunk before next_chunk is inside a written part.
    committedThrough:
      row.state === "completed" ? (row.final_chunk ?? row.next_chunk - 1) : Math.max(0, row.next_chunk - 1),
    missingChunks: row.state === "completed" ? [] : stream.missingChunks,
    stagedBytes: stream.stagedBytes,
    committedBytes: row.committed_bytes,
  };
}

/**
 * The `stream` object of a stream whose Durable Object has forgotten it: what D1 kept when its
 * last part was written (every chunk through the final one, all in parts), or nothing.
 */
export function endedStreamStatus(row: UploadRow): StreamStatus {
  const final = row.final_chunk ?? 0;
  return {
    chunksReceived: final,
    finalChunk: row.final_chunk,
    contiguousThrough: final,
    committedThrough: final,
    missingChunks: [],
    stagedBytes: 0,
    committedBytes: row.committed_bytes,
  };
}

export function toUploadStatus(row: UploadRow, parts: PartsSummary, stream: StreamStatus | null = null): UploadStatus {
  // Without a part count, anything below the highest part seen is known to be missing.
  const upTo = row.expected_parts ?? Math.max(0, ...parts.numbers);
  return {
    uploadId: row.upload_id,
    key: row.object_key,
    api: row.api,
    state: row.state,
    partSize: row.part_size,
    expectedParts: row.expected_parts,
    receivedParts: parts.count,
    missingParts: row.state === "completed" ? [] : missingRanges(parts.numbers, upTo),
    bytesReceived: parts.bytes,
    contentType: row.content_type,
    metadata: row.custom_metadata === null ? {} : (JSON.parse(row.custom_metadata) as Record<string, string>),
    staleAfterSeconds: row.stale_after_seconds,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    lastActivityAt: iso(row.last_activity_at),
    expiresAt: row.state === "open" ? iso(row.expires_at) : null,
    completedAt: isoOrNull(row.completed_at),
    object:
      row.object_etag === null || row.object_size === null ? null : { etag: row.object_etag, size: row.object_size },
    failureReason: row.failure_reason,
    abortReason: row.abort_reason,
    mode: row.mode,
    sha256: row.sha256,
    partDigests: parts.digests,
    stream,
  };
}
