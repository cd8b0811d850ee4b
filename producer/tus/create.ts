import { abortUpload } from "../../shared/abort";
import type { ProducerConfig } from "../../shared/config";
import { getTusUpload, reservePartials } from "../../shared/db/tus";
import type { UploadRow } from "../../shared/db/uploads";
import { ApiError } from "../../shared/errors";
import { newUploadId } from "../../shared/ids";
import { authorizeObjectKey } from "../auth/authorize";
import { type Caller, ownerOf } from "../auth/middleware";
import type { Env } from "../env";
import { createUpload } from "../services/create";
import {
  type Concat,
  maxUploadSize,
  objectSettings,
  PARTIAL_PREFIX,
  parseMetadata,
  partsFor,
  tusError,
} from "./protocol";
import { refusalError, tusStub, uploadGone } from "./stub";
import type { TusMeta } from "./types";

export type CreateTusRequest = {
  caller: Caller;
  length: number | null;
  deferLength: boolean;
  metadata: string | undefined;
  concat: Concat;
};

/**
 * Creates a tus upload: the same upload every API creates (R2 multipart upload, D1 row), plus
 * its tus row in the same transaction and its Durable Object. A partial upload is staged under
 * a reserved key; a final upload takes its length from its partials and is assembled from them.
 */
export async function createTusUpload(
  env: Env,
  settings: ProducerConfig,
  request: CreateTusRequest,
): Promise<{ row: UploadRow; meta: TusMeta }> {
  const uploadId = newUploadId();
  const pairs = parseMetadata(request.metadata);
  const partials =
    request.concat.kind === "final" ? await finishedPartials(env, request.caller, request.concat.uploadIds) : null;
  const length = partials === null ? declaredLength(request, settings) : partials.reduce((sum, p) => sum + p.length, 0);
  if (length !== null && length > maxUploadSize(settings)) {
    throw tusError(413, "upload_too_large", `uploads are at most ${maxUploadSize(settings)} bytes (Tus-Max-Size)`);
  }
  const object =
    request.concat.kind === "partial"
      ? { key: `${PARTIAL_PREFIX}${uploadId}`, contentType: undefined, metadata: undefined }
      : objectSettings(pairs, uploadId, keyPrefixFor(request.caller, settings));
  if (request.concat.kind !== "partial") authorizeObjectKey(request.caller, object.key, "write");

  const partSize = settings.tusPartSize;
  const row = await createUpload(env, settings, {
    key: object.key,
    contentType: object.contentType,
    metadata: object.metadata,
    partSize,
    parts: length === null ? undefined : partsFor(length, partSize),
    api: "tus",
    owner: ownerOf(request.caller),
    uploadId,
    tus: {
      length,
      metadata: request.metadata ?? null,
      concat: request.concat.kind,
      partials: partials?.map((p) => p.uploadId) ?? null,
    },
  });
  const meta: TusMeta = {
    uploadId,
    key: row.object_key,
    owner: ownerOf(request.caller),
    partSize,
    length,
    metadata: request.metadata ?? null,
    concat: request.concat.kind,
    partials,
    staleAfterSeconds: row.stale_after_seconds,
    expiresAt: row.expires_at,
    d1ExpiresAt: row.expires_at,
  };
  try {
    if (
      partials !== null &&
      !(await reservePartials(
        env.DB,
        uploadId,
        partials.map((p) => p.uploadId),
      ))
    ) {
      throw tusError(
        409,
        "partial_taken",
        "a partial upload named in Upload-Concat already went into another final upload",
      );
    }
    await tusStub(env, uploadId).init(meta);
  } catch (error) {
    // Without its object (or its partials) nothing could ever write to it: end it now.
    await abortUpload(env, uploadId, "creation_failed", Date.now()).catch(() => undefined);
    if (error instanceof ApiError) throw error;
    throw new ApiError(503, "upload_unavailable", "the upload could not be set up; try again", undefined, {
      "Retry-After": "1",
    });
  }
  return { row, meta };
}

/** Where keyless uploads land: TUS_KEY_PREFIX, under the API key's own prefix if it has one. */
function keyPrefixFor(caller: Caller, settings: ProducerConfig): string {
  return caller.kind === "key" ? `${caller.key.prefix}${settings.tusKeyPrefix}` : settings.tusKeyPrefix;
}

function declaredLength(request: CreateTusRequest, settings: ProducerConfig): number | null {
  if (request.deferLength === (request.length !== null)) {
    throw tusError(400, "invalid_length", "send exactly one of Upload-Length and Upload-Defer-Length: 1");
  }
  if (request.length !== null && request.length > maxUploadSize(settings)) {
    throw tusError(413, "upload_too_large", `uploads are at most ${maxUploadSize(settings)} bytes (Tus-Max-Size)`);
  }
  return request.length;
}

/**
 * The partial uploads a final upload names, in order: each must be this caller's, a partial,
 * and complete (every byte stored), so the final upload's length is known at creation.
 */
async function finishedPartials(env: Env, caller: Caller, uploadIds: string[]) {
  return Promise.all(
    uploadIds.map(async (uploadId) => {
      const tus = await getTusUpload(env.DB, uploadId);
      if (tus === null) throw await uploadGone(env.DB, uploadId);
      if (tus.concat !== "partial") {
        throw tusError(400, "not_partial", `upload ${uploadId} is not a partial upload (Upload-Concat: partial)`);
      }
      const snapshot = await tusStub(env, uploadId).describe(caller);
      if (snapshot === null) throw await uploadGone(env.DB, uploadId);
      if ("refused" in snapshot) throw refusalError(snapshot);
      const length = snapshot.meta.length;
      if (length === null || snapshot.offset !== length) {
        throw tusError(400, "partial_incomplete", `partial upload ${uploadId} has ${snapshot.offset} of its bytes`);
      }
      return { uploadId, key: snapshot.meta.key, length };
    }),
  );
}
