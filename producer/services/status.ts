import { summarizeStream } from "../../shared/db/chunks";
import { summarizeParts } from "../../shared/db/parts";
import { getUpload, type UploadRow } from "../../shared/db/uploads";
import type { UploadStatus } from "../../shared/schemas";
import { endedStreamStatus, streamStatusFromD1, toUploadStatus } from "../../shared/status";
import { authorizeUpload, authorizeUploadId } from "../auth/authorize";
import type { Caller } from "../auth/middleware";
import { chunkStreamStub } from "../streams/ingest";
import type { Bindings } from "./bindings";
import { missingUpload } from "./gone";

/**
 * The upload `uploadId` names, once the caller has shown it may touch it: 404 when there is
 * none, 410 when retention pruned it (see `missingUpload`).
 */
export async function accessibleUpload(db: D1Database, caller: Caller, uploadId: string): Promise<UploadRow> {
  authorizeUploadId(caller, uploadId);
  const row = await getUpload(db, uploadId);
  if (row === null) throw await missingUpload(db, caller, uploadId);
  authorizeUpload(caller, row);
  return row;
}

/**
 * The status document of an upload: its row, its recorded parts and, for a stream, its chunks
 * (from the stream's Durable Object, or from D1 for a stream on the D1 chunk path).
 */
export async function statusOf(env: Pick<Bindings, "DB" | "CHUNK_STREAMS">, row: UploadRow): Promise<UploadStatus> {
  const [parts, stream] = await Promise.all([summarizeParts(env.DB, row.upload_id), streamStatusOf(env, row)]);
  return toUploadStatus(row, parts, stream);
}

async function streamStatusOf(
  env: Pick<Bindings, "DB" | "CHUNK_STREAMS">,
  row: UploadRow,
): Promise<NonNullable<UploadStatus["stream"]> | null> {
  if (row.mode !== "stream") return null;
  if (row.chunk_store === "d1") return streamStatusFromD1(row, await summarizeStream(env.DB, row));
  const summary = row.state === "completed" ? null : await chunkStreamStub(env, row.upload_id).summary();
  if (summary === null) return endedStreamStatus(row);
  const { state: _state, ...stream } = summary;
  return stream;
}
