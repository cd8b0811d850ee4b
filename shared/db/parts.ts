import type { PartEvent } from "../schemas";

export type PartRow = {
  upload_id: string;
  part_number: number;
  etag: string;
  size: number;
  uploaded_at: number;
};

export type PartsSummary = {
  count: number;
  bytes: number;
  numbers: number[];
  sizes: { partNumber: number; size: number }[];
  digests: Record<string, string>;
};


export async function summarizeParts(db: D1Database, uploadId: string): Promise<PartsSummary> {
  const { results } = await db
    .prepare("SELECT part_number, size, sha256 FROM parts WHERE upload_id = ?1 ORDER BY part_number")
    .bind(uploadId)
    .all<Pick<PartRow, "part_number" | "size"> & { sha256: string | null }>();
  const digests: Record<string, string> = {};
  for (const row of results) if (row.sha256 !== null) digests[String(row.part_number)] = row.sha256;
  return {
    count: results.length,
    bytes: results.reduce((sum, row) => sum + row.size, 0),
    numbers: results.map((row) => row.part_number),
    sizes: results.map((row) => ({ partNumber: row.part_number, size: row.size })),
    digests,
  };
}

/**
 * Records part events idempotently, in one statement however many there are: a duplicate
 * changes nothing, and an older event never overwrites a newer one for the same part (the
 * later R2 upload of a part number is the one R2 keeps, and its sequence is higher).
 */
export function recordPartsStatement(db: D1Database, events: PartEvent[], now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at, sha256)
       SELECT json_extract(e.value, '$.uploadId'), json_extract(e.value, '$.partNumber'),
              json_extract(e.value, '$.etag'), json_extract(e.value, '$.size'),
              json_extract(e.value, '$.sequence'), json_extract(e.value, '$.uploadedAt'), ?2,
              json_extract(e.value, '$.sha256')
       FROM json_each(?1) AS e
       WHERE EXISTS (
         SELECT 1 FROM uploads u
         WHERE u.upload_id = json_extract(e.value, '$.uploadId')
           AND u.object_key = json_extract(e.value, '$.key')
           AND u.state IN ('open', 'completing')
       )
       ON CONFLICT (upload_id, part_number) DO UPDATE SET
         etag = excluded.etag, size = excluded.size, seq = excluded.seq, uploaded_at = excluded.uploaded_at,
         recorded_at = excluded.recorded_at, sha256 = excluded.sha256
       WHERE excluded.seq > parts.seq`,
    )
    .bind(JSON.stringify(events), now);
}

/** Moves each touched open upload's activity clock to its newest part event. */
export function recordActivityStatement(db: D1Database, events: PartEvent[], now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE uploads SET
         last_activity_at = max(uploads.last_activity_at, latest.at),
         expires_at = max(uploads.last_activity_at, latest.at) + uploads.stale_after_seconds * 1000,
         updated_at = ?2
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
