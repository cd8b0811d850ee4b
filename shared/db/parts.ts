import type { PartEvent } from "../messages";
import { acceptsParts, activityClock, PART_UPSERT } from "./fragments";

export type PartRow = {
  upload_id: string;
  part_number: number;
  etag: string;
  size: number;
  uploaded_at: number;
  /** The R2 part number holding this copy; null: the part's own number. */
  r2_part: number | null;
};

/** A part R2 has just accepted, as the producer records it. */
export type IngestedPartRecord = {
  uploadId: string;
  key: string;
  partNumber: number;
  etag: string;
  size: number;
  uploadedAt: number;
  sha256: string | null;
  /** The R2 part number the copy went to. */
  r2Part: number;
};

/**
 * Records a part R2 has just accepted, in one transaction: takes the upload's next part
 * sequence, records the part under it and counts it as activity. D1 serialises these batches,
 * so a part re-uploaded after an earlier copy always gets the higher sequence, and the record
 * follows the same conflict rule as the consumer's tally: the event that the producer sends
 * afterwards with this sequence changes nothing, and an older event never overwrites it. A part
 * that lands while a completion is under way is recorded too: R2 now holds it, so the
 * completion must not go ahead with the older copy. Returns the sequence, or null when the
 * upload is no longer open (it ended while the part was in flight): then nothing is written.
 */
export async function recordIngestedPart(db: D1Database, part: IngestedPartRecord): Promise<number | null> {
  const [bumped] = await db.batch([
    db
      .prepare(
        `UPDATE uploads SET part_seq = part_seq + 1, ${activityClock("?3")}
         WHERE upload_id = ?1 AND object_key = ?2 AND ${acceptsParts("uploads")}
         RETURNING part_seq`,
      )
      .bind(part.uploadId, part.key, part.uploadedAt),
    // Reads the sequence just taken: same transaction, and the same conditions as the bump.
    db
      .prepare(
        `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at, sha256, r2_part)
         SELECT u.upload_id, ?3, ?4, ?5, u.part_seq, ?6, ?6, ?7, ?8 FROM uploads u
         WHERE u.upload_id = ?1 AND u.object_key = ?2 AND ${acceptsParts("u")}
         ${PART_UPSERT}`,
      )
      .bind(part.uploadId, part.key, part.partNumber, part.etag, part.size, part.uploadedAt, part.sha256, part.r2Part),
  ]);
  const row = bumped?.results[0] as { part_seq: number } | undefined;
  return row?.part_seq ?? null;
}

/** The R2 part number holding the recorded copy of a part; null when none is recorded. */
export async function recordedR2Part(db: D1Database, uploadId: string, partNumber: number): Promise<number | null> {
  const row = await db
    .prepare("SELECT coalesce(r2_part, part_number) AS r2_part FROM parts WHERE upload_id = ?1 AND part_number = ?2")
    .bind(uploadId, partNumber)
    .first<{ r2_part: number }>();
  return row?.r2_part ?? null;
}

export type PartsSummary = {
  count: number;
  bytes: number;
  numbers: number[];
  sizes: { partNumber: number; size: number }[];
  /** The etag D1 recorded for each part number: the copy R2 holds. */
  etags: Map<number, string>;
  digests: Record<string, string>;
};

export async function summarizeParts(db: D1Database, uploadId: string): Promise<PartsSummary> {
  const { results } = await db
    .prepare("SELECT part_number, size, etag, sha256 FROM parts WHERE upload_id = ?1 ORDER BY part_number")
    .bind(uploadId)
    .all<Pick<PartRow, "part_number" | "size" | "etag"> & { sha256: string | null }>();
  const digests: Record<string, string> = {};
  for (const row of results) if (row.sha256 !== null) digests[String(row.part_number)] = row.sha256;
  return {
    count: results.length,
    bytes: results.reduce((sum, row) => sum + row.size, 0),
    numbers: results.map((row) => row.part_number),
    sizes: results.map((row) => ({ partNumber: row.part_number, size: row.size })),
    etags: new Map(results.map((row) => [row.part_number, row.etag])),
    digests,
  };
}

/**
 * Records part events idempotently, in one statement however many there are, with the same
 * conflict rule as `recordIngestedPart`: the event of a part the producer already recorded
 * changes nothing, and an older event never overwrites a newer part.
 */
export function recordPartsStatement(db: D1Database, events: PartEvent[], now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at, sha256, r2_part)
       SELECT json_extract(e.value, '$.uploadId'), json_extract(e.value, '$.partNumber'),
              json_extract(e.value, '$.etag'), json_extract(e.value, '$.size'),
              json_extract(e.value, '$.sequence'), json_extract(e.value, '$.uploadedAt'), ?2,
              json_extract(e.value, '$.sha256'), json_extract(e.value, '$.r2Part')
       FROM json_each(?1) AS e
       WHERE EXISTS (
         SELECT 1 FROM uploads u
         WHERE u.upload_id = json_extract(e.value, '$.uploadId')
           AND u.object_key = json_extract(e.value, '$.key')
           AND ${acceptsParts("u")}
       )
       ${PART_UPSERT}`,
    )
    .bind(JSON.stringify(events), now);
}

/** Moves each touched open upload's activity clock to its newest part event. */
export function recordActivityStatement(db: D1Database, events: PartEvent[], now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET ${activityClock("latest.at")}, updated_at = ?2
       FROM (
         SELECT json_extract(value, '$.uploadId') AS upload_id, max(json_extract(value, '$.uploadedAt')) AS at
         FROM json_each(?1) GROUP BY 1
       ) AS latest
       WHERE uploads.upload_id = latest.upload_id AND uploads.state = 'open'`,
    )
    .bind(JSON.stringify(events), now);
}

export function bumpCounterStatement(db: D1Database, name: string, by: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO counters (name, value) VALUES (?1, ?2)
       ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
    )
    .bind(name, by);
}
