import { Hono } from "hono";
import { abortUpload } from "../../shared/abort";
import { claimReady, finishClaims } from "../../shared/completion";
import { summarizeStream } from "../../shared/db/chunks";
import { type PartsSummary, summarizeParts } from "../../shared/db/parts";
import { fixExpectedParts, getUpload, insertUpload, type UploadRow } from "../../shared/db/uploads";
import { ApiError } from "../../shared/errors";
import { errorMessage } from "../../shared/r2-errors";
import { CompleteUploadRequest, CreateUploadRequest, PartNumber, UploadId, type UploadStatus } from "../../shared/schemas";
import { toUploadStatus } from "../../shared/status";
import { authenticate, authorizeKeyWrite, authorizeUpload, authorizeUploadId, tokenSecret } from "../auth/access";
import { issueUploadToken } from "../auth/tokens";
import { type AppEnv, type AppContext, config } from "../context";
import { finalMarker } from "../final-marker";
import { declaredLength, ingestPart } from "../ingest";
import { declaredSha256, normaliseSha256 } from "../integrity";
import { parseInput, readJson } from "../validation";

export const uploads = new Hono<AppEnv>();

/** Completion claims older than this are taken over; the producer only ever claims fresh ones. */
const EXPLICIT_COMPLETE_LEASE_MS = 120_000;
const EXPLICIT_COMPLETE_ATTEMPTS = 5;

async function statusOf(db: D1Database, row: UploadRow): Promise<UploadStatus> {
  const [parts, stream] = await Promise.all([
    summarizeParts(db, row.upload_id),
    row.mode === "stream" ? summarizeStream(db, row) : null,
  ]);
  return toUploadStatus(row, parts, stream);
}

async function requireUpload(db: D1Database, rawId: string): Promise<UploadRow> {
  const uploadId = parseInput(UploadId, rawId, "upload id");
  const row = await getUpload(db, uploadId);
  if (row === null) throw new ApiError(404, "upload_not_found", `no upload with id ${uploadId}`);
  return row;
}

/** The upload named in the path, once the caller has shown it may touch it. */
async function accessibleUpload(c: AppContext): Promise<UploadRow> {
  const caller = await authenticate(c);
  const uploadId = parseInput(UploadId, c.req.param("uploadId"), "upload id");
  authorizeUploadId(caller, uploadId);
  const row = await requireUpload(c.env.DB, uploadId);
  authorizeUpload(caller, row);
  return row;
}

function notOpen(row: UploadRow): ApiError {
  return new ApiError(409, "upload_not_open", `the upload is ${row.state} and takes no more parts`, {
    state: row.state,
  });
}

uploads.post("/", async (c) => {
  const caller = await authenticate(c);
  const request = await readJson(c.req.raw, CreateUploadRequest);
  authorizeKeyWrite(caller, request.key);
  const limits = config(c.env);
  const partSize = request.partSize ?? limits.defaultPartSize;
  if (partSize < limits.minPartSize || partSize > limits.maxPartSize) {
    throw new ApiError(
      400,
      "invalid_part_size",
      `partSize must be between ${limits.minPartSize} and ${limits.maxPartSize} bytes`,
    );
  }
  const objectSha256 = request.sha256 === undefined ? null : normaliseSha256(request.sha256);
  if (request.sha256 !== undefined && objectSha256 === null) {
    throw new ApiError(400, "invalid_digest", "sha256 must be 64 hex characters or 44 base64 characters");
  }
  const mode = request.mode ?? "parts";
  if (mode === "stream" && request.parts !== undefined) {
    throw new ApiError(400, "invalid_request", "a stream's part count follows from its chunks: leave parts out");
  }
  const staleAfterSeconds = request.staleAfterSeconds ?? limits.defaultStaleAfterSeconds;
  if (staleAfterSeconds > limits.maxStaleAfterSeconds) {
    throw new ApiError(
      400,
      "invalid_stale_after",
      `staleAfterSeconds must be at most ${limits.maxStaleAfterSeconds}`,
    );
  }

  const multipart = await c.env.BUCKET.createMultipartUpload(request.key, {
    httpMetadata: request.contentType === undefined ? undefined : { contentType: request.contentType },
    customMetadata: request.metadata,
  });
  const now = Date.now();
  try {
    await insertUpload(c.env.DB, {
      uploadId: multipart.uploadId,
      key: request.key,
      api: "native",
      partSize,
      expectedParts: request.parts ?? null,
      contentType: request.contentType ?? null,
      metadata: request.metadata ?? null,
      staleAfterSeconds,
      mode,
      sha256: objectSha256,
      now,
    });
  } catch (error) {
    // Without its D1 row nothing could ever complete or sweep the R2 upload: drop it now.
    await multipart.abort().catch(() => undefined);
    console.error(JSON.stringify({ event: "register_upload_failed", error: errorMessage(error) }));
    throw new ApiError(503, "database_unavailable", "the upload could not be registered; try again", undefined, {
      "Retry-After": "1",
    });
  }
  const row = await getUpload(c.env.DB, multipart.uploadId);
  if (row === null) throw new Error("an upload vanished right after it was registered");
  const status = await statusOf(c.env.DB, row);
  const token = await uploadToken(c.env, row, now, limits.tokenTtlSeconds);
  return c.json({ ...status, parts: status.expectedParts, ...token }, 201, {
    Location: `/uploads/${encodeURIComponent(row.upload_id)}`,
  });
});

uploads.get("/:uploadId", async (c) => {
  const row = await accessibleUpload(c);
  return c.json(await statusOf(c.env.DB, row));
});

uploads.delete("/:uploadId", async (c) => {
  const row = await accessibleUpload(c);
  if (row.state !== "open" && row.state !== "aborted") {
    throw new ApiError(409, "upload_not_open", `the upload is ${row.state} and can no longer be aborted`, {
      state: row.state,
    });
  }
  const ended = await abortUpload(c.env, row.upload_id, "client", Date.now());
  if (ended === null || ended.state !== "aborted") {
    // It left `open` between our read and the abort: report what it became.
    const now = ended ?? row;
    throw new ApiError(409, "upload_not_open", `the upload is ${now.state} and can no longer be aborted`, {
      state: now.state,
    });
  }
  return c.json(await statusOf(c.env.DB, ended));
});

uploads.post("/:uploadId/complete", async (c) => {
  let row = await accessibleUpload(c);
  const request = await readJson(c.req.raw, CompleteUploadRequest, {});
  if (row.state === "aborted" || row.state === "failed") {
    throw new ApiError(409, "upload_not_open", `the upload is ${row.state} and cannot be completed`, {
      state: row.state,
    });
  }
  if (row.mode === "stream") {
    throw new ApiError(409, "not_parts", "a stream completes by itself once its final chunk and all before it are in");
  }
  if (row.state === "completed") return c.json(await statusOf(c.env.DB, row), 200);
  if (row.state === "completing") return c.json(await statusOf(c.env.DB, row), 202);

  if (row.expected_parts === null) {
    if (request.parts === undefined) {
      throw new ApiError(400, "parts_required", "this upload was created without a part count: send { \"parts\": N }");
    }
    checkRecordedParts(row, await summarizeParts(c.env.DB, row.upload_id), request.parts);
    row = (await fixExpectedParts(c.env.DB, row.upload_id, request.parts, Date.now())) ?? (await requireUpload(c.env.DB, row.upload_id));
  }
  if (request.parts !== undefined && request.parts !== row.expected_parts) {
    throw new ApiError(409, "parts_mismatch", `the upload expects ${row.expected_parts} parts, not ${request.parts}`);
  }

  const now = Date.now();
  const claims = await claimReady(c.env.DB, [row.upload_id], now, now - EXPLICIT_COMPLETE_LEASE_MS);
  if (claims.length > 0) {
    await finishClaims(c.env.DB, c.env.BUCKET, claims, { maxAttempts: EXPLICIT_COMPLETE_ATTEMPTS, events: c.env.UPLOAD_EVENTS });
  }
  const after = await requireUpload(c.env.DB, row.upload_id);
  // 202: parts are still missing (or their events are in flight); the consumer completes it.
  return c.json(await statusOf(c.env.DB, after), after.state === "completed" || after.state === "failed" ? 200 : 202);
});

uploads.put("/:uploadId/parts/:partNumber", async (c) => {
  const partNumber = parseInput(PartNumber, c.req.param("partNumber"), "part number");
  const final = finalMarker(c.req.query("final"));
  const size = declaredLength(c.req.raw);
  const sha256 = declaredSha256(c.req.raw);

  let upload = await accessibleUpload(c);
  const uploadId = upload.upload_id;
  if (upload.state !== "open") throw notOpen(upload);
  if (upload.mode === "stream") {
    throw new ApiError(409, "not_parts", "this upload is a stream: send chunks to /chunks/{seq}");
  }
  if (final && upload.expected_parts !== null && upload.expected_parts !== partNumber) {
    throw new ApiError(409, "final_conflict", `part ${upload.expected_parts} is already the final part`);
  }
  checkPartSize(final ? { ...upload, expected_parts: partNumber } : upload, partNumber, size);
  if (final && upload.expected_parts === null) {
    // The marker fixes the count before any byte is written, so a conflicting marker is refused.
    const recorded = await summarizeParts(c.env.DB, uploadId);
    const beyond = recorded.numbers.filter((n) => n > partNumber);
    if (beyond.length > 0) {
      throw new ApiError(409, "final_conflict", `parts ${beyond.join(", ")} were received, so ${partNumber} cannot be final`);
    }
    const fixed = await fixExpectedParts(c.env.DB, uploadId, partNumber, Date.now());
    if (fixed === null) {
      const now = await requireUpload(c.env.DB, uploadId);
      if (now.expected_parts !== partNumber) {
        throw new ApiError(409, "final_conflict", `part ${now.expected_parts} is already the final part`);
      }
      upload = now;
    } else {
      upload = fixed;
    }
  }
  const part = await ingestPart(c.env, upload, partNumber, c.req.raw.body, size, sha256);
  return c.json(part, 200);
});

/** An upload token for the new upload, when tokens are enabled. */
async function uploadToken(env: Env, row: UploadRow, now: number, ttlSeconds: number) {
  const secret = tokenSecret(env);
  if (secret === null) return { uploadToken: null, uploadTokenExpiresAt: null };
  const expiresAt = Math.floor(now / 1000) + ttlSeconds;
  const token = await issueUploadToken(secret, { uploadId: row.upload_id, key: row.object_key, expiresAt });
  return { uploadToken: token, uploadTokenExpiresAt: new Date(expiresAt * 1000).toISOString() };
}

/**
 * Parts of an upload created without a count could not be checked against it when they
 * arrived; check them now, before the count is fixed, so a misfit is a clear 409 rather than
 * a failed upload.
 */
function checkRecordedParts(row: UploadRow, parts: PartsSummary, count: number): void {
  const beyond = parts.numbers.filter((n) => n > count);
  if (beyond.length > 0) {
    throw new ApiError(409, "parts_beyond_count", `parts ${beyond.join(", ")} are beyond a count of ${count}`);
  }
  const misfits = parts.sizes
    .filter(({ partNumber, size }) => partNumber < count && size !== row.part_size)
    .map(({ partNumber }) => partNumber);
  if (misfits.length > 0) {
    throw new ApiError(
      409,
      "part_size_mismatch",
      `every part but the last must be exactly ${row.part_size} bytes; parts ${misfits.join(", ")} are not`,
    );
  }
}

/** R2 only completes uploads whose parts but the last share one size: refuse misfits up front. */
function checkPartSize(upload: UploadRow, partNumber: number, size: number): void {
  const partSize = upload.part_size;
  const expected = upload.expected_parts;
  if (partSize === null) return;
  if (expected !== null && partNumber > expected) {
    throw new ApiError(400, "part_out_of_range", `this upload has ${expected} parts; part ${partNumber} is beyond it`);
  }
  if (size > partSize) {
    throw new ApiError(413, "part_too_large", `parts are at most ${partSize} bytes; this one is ${size}`);
  }
  const isFinal = expected !== null && partNumber === expected;
  if (expected !== null && !isFinal && size !== partSize) {
    throw new ApiError(
      400,
      "part_size_mismatch",
      `every part but the last must be exactly ${partSize} bytes; part ${partNumber} is ${size}`,
    );
  }
  if (size === 0 && !(isFinal && partNumber === 1)) {
    throw new ApiError(400, "empty_part", "a part must not be empty");
  }
}
