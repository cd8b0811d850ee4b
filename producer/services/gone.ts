import { getTombstone } from "../../shared/db/tombstones";
import { type ApiError, errors } from "../../shared/errors";
import { authorizeUpload } from "../auth/authorize";
import type { Caller } from "../auth/middleware";

/**
 * The refusal for an upload id D1 has no row for: 410 when retention pruned it (its tombstone
 * says how and when it ended), 404 when it never existed or its tombstone expired too. The
 * tombstone keeps the object key so the caller is authorized exactly as for the row: a key
 * limited to another prefix, or a token of another upload, gets 403, not the upload's fate.
 * Only a miss pays for this second read; every live upload is found by the first.
 */
export async function missingUpload(db: D1Database, caller: Caller, uploadId: string): Promise<ApiError> {
  const tombstone = await getTombstone(db, uploadId);
  if (tombstone === null) return errors.uploadNotFound(uploadId);
  authorizeUpload(caller, tombstone);
  return errors.uploadGone(uploadId, tombstone.state, tombstone.ended_at);
}
