import { abortUpload as abortInD1AndR2 } from "../../shared/abort";
import type { UploadRow } from "../../shared/db/uploads";
import { errors } from "../../shared/errors";
import { chunkStreamStub } from "../streams/ingest";
import { tusStub } from "../tus/stub";
import type { Bindings } from "./bindings";

/**
 * Aborts an upload on the client's word. Aborting an aborted upload again is a no-op; one that
 * completed, failed or is being completed can no longer be aborted (409).
 */
export async function abortUpload(env: Bindings, upload: UploadRow): Promise<UploadRow> {
  if (upload.state !== "open" && upload.state !== "aborted") {
    throw errors.uploadNotOpen(upload.state, "can no longer be aborted");
  }
  const ended = await abortInD1AndR2(env, upload.upload_id, "client", Date.now());
  // It left `open` between our read and the abort: report what it became.
  if (ended === null || ended.state !== "aborted")
    throw errors.uploadNotOpen((ended ?? upload).state, "can no longer be aborted");
  // A tus upload's object holds its tail, a stream's object its chunks: drop them with the upload.
  if (upload.api === "tus") await tusStub(env, upload.upload_id).terminate();
  if (upload.mode === "stream" && upload.chunk_store === "object") await chunkStreamStub(env, upload.upload_id).close();
  return ended;
}
