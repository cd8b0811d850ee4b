import type { UploadState } from "../schemas";

/**
 * What retention leaves of a pruned upload (shared/db/retention.ts writes and expires them). Its
 * own module so that the producer, which only reads them, does not bundle the pruning SQL.
 */
export type TombstoneRow = {
  upload_id: string;
  object_key: string;
  state: Extract<UploadState, "completed" | "aborted" | "failed">;
  ended_at: number;
  pruned_at: number;
};

/** What is left of a pruned upload, or null when it never existed or its tombstone expired too. */
export async function getTombstone(db: D1Database, uploadId: string): Promise<TombstoneRow | null> {
  return db.prepare("SELECT * FROM upload_tombstones WHERE upload_id = ?1").bind(uploadId).first<TombstoneRow>();
}
