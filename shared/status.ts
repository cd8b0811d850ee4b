import type { StreamSummary } from "./db/chunks";
import type { PartsSummary } from "./db/parts";
import type { UploadRow } from "./db/uploads";
import { missingRanges } from "./ranges";
import type { UploadStatus } from "./schemas";

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function toUploadStatus(row: UploadRow, parts: PartsSummary, stream: StreamSummary | null = null): UploadStatus {
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
    stream:
      stream === null
        ? null
        : {
            chunksReceived: stream.chunksReceived,
            finalChunk: row.final_chunk,
            contiguousThrough: stream.contiguousThrough,
            // The coalescer's cursor: every chunk before next_chunk is inside a written part.
            committedThrough:
              row.state === "completed" ? (row.final_chunk ?? row.next_chunk - 1) : Math.max(0, row.next_chunk - 1),
            missingChunks: row.state === "completed" ? [] : stream.missingChunks,
            stagedBytes: stream.stagedBytes,
            committedBytes: row.committed_bytes,
          },
  };
}
