import type { MiddlewareHandler } from "hono";
import { abortUpload } from "../../shared/abort";
import { recordCompletedStatement, releaseClaimStatement } from "../../shared/completion";
import { getUpload, insertUpload, type UploadRow } from "../../shared/db/uploads";
import { ApiError } from "../../shared/errors";
import { errorMessage } from "../../shared/r2-errors";
import { CompatCompleteRequest, PartNumber, STAGING_PREFIX } from "../../shared/schemas";
import {
  authenticate,
  authorizeKeyWrite,
  authorizeRead,
  authorizeUpload,
  authorizeUploadId,
  tokenSecret,
} from "../auth/access";
import { issueUploadToken } from "../auth/tokens";
import { type AppContext, type AppEnv, config } from "../context";
import { declaredLength, ingestPart } from "../ingest";
import { declaredSha256 } from "../integrity";
import { parseInput, readJson } from "../validation";

/**
 * The API of Cloudflare's documented multipart Worker example: `/{key}?action=...`, routed by
 * method and action, with its status codes (400 for every refused request, 204 for aborts and
 * deletes). Uploads made this way are registered in D1 like native ones, so their parts are
 * tallied and abandoned ones are swept.
 */
export const compatRouter: MiddlewareHandler<AppEnv> = async (c, next) => {
  const action = c.req.query("action");
  if (action === undefined) return next();
  // Like the example: the key is the raw path, not URL-decoded.
  const key = new URL(c.req.url).pathname.slice(1);
  try {
    return await dispatch(c, c.req.method, action, key);
  } catch (error) {
    // The example answers 400 to every refused write; keep our codes and messages, not our statuses.
    if (error instanceof ApiError && [409, 411, 413].includes(error.status)) {
      throw new ApiError(400, error.code, error.message, error.details, error.headers);
    }
    throw error;
  }
};

function dispatch(c: AppContext, method: string, action: string, key: string): Promise<Response> | Response {
  switch (`${method} ${action}`) {
    case "POST mpu-create":
      return create(c, key);
    case "POST mpu-complete":
      return complete(c, key);
    case "PUT mpu-uploadpart":
      return uploadPart(c, key);
    case "GET get":
      return getObject(c, key);
    case "DELETE mpu-abort":
      return abort(c, key);
    case "DELETE delete":
      return deleteObject(c, key);
  }
  if (!["POST", "PUT", "GET", "DELETE"].includes(method)) {
    throw new ApiError(405, "method_not_allowed", `${method} is not supported`, undefined, {
      Allow: "PUT, POST, GET, DELETE",
    });
  }
  throw new ApiError(400, "unknown_action", `unknown action ${action} for ${method}`);
}

function requireKey(key: string): string {
  if (key === "") throw new ApiError(400, "invalid_request", "the object key (the URL path) must not be empty");
  if (key.startsWith(STAGING_PREFIX)) throw new ApiError(400, "reserved_key", `keys under ${STAGING_PREFIX} are reserved`);
  return key;
}

function requireQuery(c: AppContext, name: string): string {
  const value = c.req.query(name);
  if (value === undefined || value === "") throw new ApiError(400, "invalid_request", `missing ${name}`);
  return value;
}

/** The upload named by the query, once the caller has shown it may touch it. */
async function accessibleUpload(c: AppContext, key: string, uploadId: string): Promise<UploadRow> {
  const caller = await authenticate(c);
  authorizeUploadId(caller, uploadId);
  const row = await getUpload(c.env.DB, uploadId);
  if (row === null || row.object_key !== key) {
    throw new ApiError(400, "upload_not_found", `no upload ${uploadId} for key ${key}`);
  }
  authorizeUpload(caller, row);
  return row;
}

async function requireOpenUpload(c: AppContext, key: string, uploadId: string): Promise<UploadRow> {
  const row = await accessibleUpload(c, key, uploadId);
  if (row.state !== "open") throw new ApiError(400, "upload_not_open", `the upload is ${row.state}`);
  return row;
}

async function create(c: AppContext, rawKey: string): Promise<Response> {
  const caller = await authenticate(c);
  const key = requireKey(rawKey);
  authorizeKeyWrite(caller, key);
  const multipart = await c.env.BUCKET.createMultipartUpload(key);
  try {
    await insertUpload(c.env.DB, {
      uploadId: multipart.uploadId,
      key,
      api: "compat",
      partSize: null,
      expectedParts: null,
      contentType: null,
      metadata: null,
      staleAfterSeconds: config(c.env).defaultStaleAfterSeconds,
      mode: "parts",
      sha256: null,
      now: Date.now(),
    });
  } catch (error) {
    await multipart.abort().catch(() => undefined);
    console.error(JSON.stringify({ event: "register_upload_failed", error: errorMessage(error) }));
    throw new ApiError(503, "database_unavailable", "the upload could not be registered; try again");
  }
  const settings = config(c.env);
  const secret = tokenSecret(c.env);
  // An extra field: clients of the example ignore it, others can hand it to their uploaders.
  const uploadToken =
    secret === null
      ? null
      : await issueUploadToken(secret, {
          uploadId: multipart.uploadId,
          key,
          expiresAt: Math.floor(Date.now() / 1000) + settings.tokenTtlSeconds,
        });
  return c.json({ key: multipart.key, uploadId: multipart.uploadId, uploadToken });
}

async function uploadPart(c: AppContext, key: string): Promise<Response> {
  const uploadId = requireQuery(c, "uploadId");
  const partNumber = parseInput(PartNumber, requireQuery(c, "partNumber"), "partNumber");
  if (c.req.raw.body === null) throw new ApiError(400, "invalid_request", "missing request body");
  const size = declaredLength(c.req.raw);
  const sha256 = declaredSha256(c.req.raw);
  const upload = await requireOpenUpload(c, key, uploadId);
  const part = await ingestPart(c.env, upload, partNumber, c.req.raw.body, size, sha256);
  return c.json({ partNumber: part.partNumber, etag: part.etag });
}

/**
 * The client names the parts, as in the example; the claim in D1 still makes this the one
 * completion of the upload, and a refusal from R2 hands the upload back so it can be retried.
 */
async function complete(c: AppContext, key: string): Promise<Response> {
  const uploadId = requireQuery(c, "uploadId");
  const { parts } = await readJson(c.req.raw, CompatCompleteRequest);
  const upload = await requireOpenUpload(c, key, uploadId);
  const claimId = crypto.randomUUID();
  const now = Date.now();
  const claimed = await c.env.DB.prepare(
    `UPDATE uploads SET state = 'completing', claim_id = ?2, claimed_at = ?3, updated_at = ?3, expected_parts = ?4,
       complete_attempts = complete_attempts + 1
     WHERE upload_id = ?1 AND state = 'open' RETURNING upload_id`,
  )
    .bind(upload.upload_id, claimId, now, parts.length)
    .first();
  if (claimed === null) throw new ApiError(400, "upload_not_open", "the upload is already being completed");

  const ref = { uploadId: upload.upload_id, claimId };
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  let object: R2Object;
  try {
    object = await c.env.BUCKET.resumeMultipartUpload(key, uploadId).complete(sorted);
  } catch (error) {
    await releaseClaimStatement(c.env.DB, ref, Date.now()).run();
    throw new ApiError(400, "complete_refused", errorMessage(error));
  }
  await recordCompletedStatement(c.env.DB, ref, object, Date.now()).run();
  return new Response(null, { headers: { etag: object.httpEtag } });
}

async function abort(c: AppContext, key: string): Promise<Response> {
  const uploadId = requireQuery(c, "uploadId");
  await accessibleUpload(c, key, uploadId);
  const ended = await abortUpload(c.env, uploadId, "client", Date.now());
  if (ended !== null && ended.state !== "aborted") {
    throw new ApiError(400, "upload_not_open", `the upload is ${ended.state} and can no longer be aborted`);
  }
  return new Response(null, { status: 204 });
}

async function getObject(c: AppContext, rawKey: string): Promise<Response> {
  const key = requireKey(rawKey);
  await authorizeRead(c, key);
  const object = await c.env.BUCKET.get(key);
  if (object === null) throw new ApiError(404, "object_not_found", "Object Not Found");
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set("etag", object.httpEtag);
  return new Response(object.body, { headers });
}

async function deleteObject(c: AppContext, rawKey: string): Promise<Response> {
  const caller = await authenticate(c);
  const key = requireKey(rawKey);
  authorizeKeyWrite(caller, key);
  await c.env.BUCKET.delete(key);
  return new Response(null, { status: 204 });
}
