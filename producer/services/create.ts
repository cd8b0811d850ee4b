import type { ProducerConfig } from "../../shared/config";
import type { NewTusUpload } from "../../shared/db/tus";
import { countOpenUploads, getUpload, insertUpload, type UploadRow } from "../../shared/db/uploads";
import { ApiError, errors } from "../../shared/errors";
import { newUploadId } from "../../shared/ids";
import { errorMessage } from "../../shared/r2-errors";
import type { CreateUploadRequest } from "../../shared/schemas";
import { issueUploadToken } from "../auth/tokens";
import { normaliseSha256 } from "../integrity";
import type { Bindings } from "./bindings";

export type NewUploadRequest = CreateUploadRequest & {
  api: UploadRow["api"];
  /** Whose limit the upload counts against: an API key's id, or "anonymous". */
  owner: string;
  /** The id to register it under, when the caller needed it before (tus derives keys from it). */
  uploadId?: string;
  /** What a tus upload adds, written in the same transaction. */
  tus?: NewTusUpload;
};

const RETRY_LIMITED_SECONDS = 60;

const overLimit = (mode: UploadRow["mode"], limit: number) =>
  new ApiError(
    429,
    "too_many_open_uploads",
    `this API key already has ${limit} open ${mode === "stream" ? "streams" : "uploads"}: complete or abort some first`,
    { limit, mode },
    { "Retry-After": String(RETRY_LIMITED_SECONDS) },
  );

/**
 * Opens an upload: the R2 multipart upload first, then its D1 row under our own short id. The
 * seed-compatible API creates through here too, without a part size (its clients choose their
 * own). Every limit is checked before R2 is touched, so a refusal leaves nothing behind.
 */
export async function createUpload(
  env: Bindings,
  settings: ProducerConfig,
  request: NewUploadRequest,
): Promise<UploadRow> {
  const partSize = request.api === "compat" ? null : (request.partSize ?? settings.defaultPartSize);
  if (partSize !== null && (partSize < settings.minPartSize || partSize > settings.maxPartSize)) {
    throw new ApiError(
      400,
      "invalid_part_size",
      `partSize must be between ${settings.minPartSize} and ${settings.maxPartSize} bytes`,
    );
  }
  const sha256 = request.sha256 === undefined ? null : normaliseSha256(request.sha256);
  if (request.sha256 !== undefined && sha256 === null) {
    throw new ApiError(400, "invalid_digest", "sha256 must be 64 hex characters or 44 base64 characters");
  }
  const mode = request.mode ?? "parts";
  if (mode === "stream" && request.parts !== undefined) {
    throw errors.invalidRequest("a stream's part count follows from its chunks: leave parts out");
  }
  const staleAfterSeconds = request.staleAfterSeconds ?? settings.defaultStaleAfterSeconds;
  if (staleAfterSeconds > settings.maxStaleAfterSeconds) {
    throw new ApiError(
      400,
      "invalid_stale_after",
      `staleAfterSeconds must be at most ${settings.maxStaleAfterSeconds}`,
    );
  }

  // Refused before R2 is touched; the insert below checks again, atomically, for racing creates.
  const openLimit = mode === "stream" ? settings.maxOpenStreamsPerKey : settings.maxOpenUploadsPerKey;
  if ((await countOpenUploads(env.DB, request.owner, mode)) >= openLimit) throw overLimit(mode, openLimit);

  const multipart = await env.BUCKET.createMultipartUpload(request.key, {
    httpMetadata: request.contentType === undefined ? undefined : { contentType: request.contentType },
    customMetadata: request.metadata,
  });
  const uploadId = request.uploadId ?? newUploadId();
  let inserted: boolean;
  try {
    inserted = await insertUpload(env.DB, {
      uploadId,
      r2UploadId: multipart.uploadId,
      key: request.key,
      api: request.api,
      partSize,
      expectedParts: request.parts ?? null,
      contentType: request.contentType ?? null,
      metadata: request.metadata ?? null,
      staleAfterSeconds,
      mode,
      sha256,
      now: Date.now(),
      owner: request.owner,
      openLimit,
      tus: request.tus,
      chunkStore: mode === "stream" ? settings.chunkStore : "d1",
    });
  } catch (error) {
    // Without its D1 row nothing could ever complete or sweep the R2 upload: drop it now.
    await multipart.abort().catch(() => undefined);
    console.error(
      JSON.stringify({
        event: "register_upload_failed",
        uploadId,
        key: request.key,
        code: "database_unavailable",
        error: errorMessage(error),
      }),
    );
    throw errors.databaseUnavailable();
  }
  if (!inserted) {
    await multipart.abort().catch(() => undefined);
    throw overLimit(mode, openLimit);
  }
  const row = await getUpload(env.DB, uploadId);
  if (row === null) throw new Error("an upload vanished right after it was registered");
  return row;
}

/** An upload token for the new upload, when tokens are enabled on this deployment. */
export async function tokenFor(
  secret: string | null,
  row: Pick<UploadRow, "upload_id" | "object_key">,
  ttlSeconds: number,
): Promise<{ uploadToken: string | null; uploadTokenExpiresAt: string | null }> {
  if (secret === null) return { uploadToken: null, uploadTokenExpiresAt: null };
  const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
  const uploadToken = await issueUploadToken(secret, { uploadId: row.upload_id, key: row.object_key, expiresAt });
  return { uploadToken, uploadTokenExpiresAt: new Date(expiresAt * 1000).toISOString() };
}
