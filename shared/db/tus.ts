/** What the tus protocol adds to an upload (migration 0008). */
export type TusConcat = "single" | "partial" | "final";

export type TusRow = {
  upload_id: string;
  upload_length: number | null;
  upload_metadata: string | null;
  concat: TusConcat;
  /** JSON array of partial upload ids, for a final upload. */
  partials: string | null;
  used_by: string | null;
};

export type NewTusUpload = {
  length: number | null;
  metadata: string | null;
  concat: TusConcat;
  partials: string[] | null;
};

/** Inserts the tus row of an upload, only where its upload row exists (same batch as the upload's insert). */
export function insertTusStatement(db: D1Database, uploadId: string, tus: NewTusUpload): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO tus_uploads (upload_id, upload_length, upload_metadata, concat, partials)
       SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM uploads WHERE upload_id = ?1)`,
    )
    .bind(uploadId, tus.length, tus.metadata, tus.concat, tus.partials === null ? null : JSON.stringify(tus.partials));
}

export async function getTusUpload(db: D1Database, uploadId: string): Promise<TusRow | null> {
  return db.prepare("SELECT * FROM tus_uploads WHERE upload_id = ?1").bind(uploadId).first<TusRow>();
}

/** A deferred length becomes known. False when it was already set (to anything). */
export async function setTusLength(db: D1Database, uploadId: string, length: number): Promise<boolean> {
  const result = await db
    .prepare("UPDATE tus_uploads SET upload_length = ?2 WHERE upload_id = ?1 AND upload_length IS NULL")
    .bind(uploadId, length)
    .run();
  return result.meta.changes > 0;
}

/**
 * Reserves partial uploads for one final upload, all or none: false when any of them is not a
 * partial or another final already took it.
 */
export async function reservePartials(db: D1Database, finalId: string, partialIds: string[]): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE tus_uploads SET used_by = ?1
       WHERE upload_id IN (SELECT value FROM json_each(?2)) AND concat = 'partial' AND used_by IS NULL
         AND (SELECT count(*) FROM tus_uploads t WHERE t.upload_id IN (SELECT value FROM json_each(?2))
              AND t.concat = 'partial' AND t.used_by IS NULL) = json_array_length(?2)`,
    )
    .bind(finalId, JSON.stringify(partialIds))
    .run();
  return result.meta.changes === partialIds.length;
}
