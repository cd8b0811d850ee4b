import type { StreamMeta, StreamSummary } from "./types";

/** What the status reports of a stream's chunks, from its object's storage: counts in SQL. */
export function summarizeChunks(sql: SqlStorage, meta: StreamMeta, runThrough: number): StreamSummary {
  const total = sql
    .exec<{ received: number; highest: number; staged: number }>(
      `SELECT count(*) AS received, coalesce(max(seq), 0) AS highest,
           coalesce(sum(CASE WHEN committed = 0 THEN size ELSE 0 END), 0) AS staged FROM chunks`,
    )
    .one();
  const upTo = Math.max(total.highest, meta.finalChunk ?? 0);
  const gaps = sql
    .exec<{ first: number; last: number | null }>(
      `SELECT c.seq + 1 AS first, (SELECT min(n.seq) FROM chunks n WHERE n.seq > c.seq) - 1 AS last
         FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM chunks n WHERE n.seq = c.seq + 1) ORDER BY c.seq LIMIT 100`,
    )
    .toArray();
  const missing: string[] = [];
  const lowest = total.received === 0 ? upTo + 1 : sql.exec<{ s: number }>("SELECT min(seq) AS s FROM chunks").one().s;
  if (lowest > 1) missing.push(lowest === 2 ? "1" : `1-${Math.min(lowest - 1, upTo)}`);
  for (const gap of gaps) {
    const last = gap.last ?? upTo;
    if (gap.first <= last) missing.push(gap.first === last ? String(last) : `${gap.first}-${last}`);
  }
  if (upTo === 0) missing.length = 0;
  return {
    chunksReceived: total.received,
    finalChunk: meta.finalChunk,
    contiguousThrough: lowest === 1 ? runThrough : 0,
    committedThrough: meta.nextChunk - 1,
    missingChunks: missing,
    stagedBytes: Math.max(0, total.staged - meta.nextOffset),
    committedBytes: meta.committedBytes,
    state: meta.state,
  };
}
