import { summarizeStream } from "../../shared/db/chunks";
import { summarizeParts } from "../../shared/db/parts";
import { getUpload, type UploadRow } from "../../shared/db/uploads";
import { errors } from "../../shared/errors";
import type { UploadStatus } from "../../shared/schemas";
import { toUploadStatus } from "../../shared/status";
import { authorizeUpload, authorizeUploadId } from "../auth/authorize";
import type { Caller } from "../auth/middleware";

/** The upload `uploadId` names, once the caller has shown it may touch it (404 when there is none). */
export async function accessibleUpload(db: D1Database, caller: Caller, uploadId: string): Promise<UploadRow> {
  authorizeUploadId(caller, uploadId);
  const row = await getUpload(db, uploadId);
  if (row === null) throw errors.uploadNotFound(uploadId);
  authorizeUpload(caller, row);
  return row;
}

/** The status document of an upload: its row, its recorded parts and, for a stream, its chunks. */
export async function statusOf(db: D1Database, row: UploadRow): Promise<UploadStatus> {
  const [parts, stream] = await Promise.all([
    summarizeParts(db, row.upload_id),
    row.mode === "stream" ? summarizeStream(db, row) : null,
  ]);
  return toUploadStatus(row, parts, stream);
}
