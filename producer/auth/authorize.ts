import { errors } from "../../shared/errors";
import { keyAllows } from "./keys";
import type { Caller } from "./middleware";

/**
 * Authorization, one function per kind of resource. Authentication (middleware.ts) already
 * decided who the caller is and refused tokens on routes that take API keys only.
 */

/** Object keys: creating uploads under a key, and reading or deleting objects, take a key allowed for it. */
export function authorizeObjectKey(caller: Caller, objectKey: string, action: "write" | "read"): void {
  if (caller.kind === "key" && !keyAllows(caller.key, objectKey)) {
    throw errors.forbidden(
      action === "write"
        ? `this API key may not write under ${JSON.stringify(objectKey)}`
        : "this API key may not read this object",
    );
  }
}

/** Uploads, before the row is read: a token must name this upload. */
export function authorizeUploadId(caller: Caller, uploadId: string): void {
  if (caller.kind === "token" && caller.claims.uploadId !== uploadId) {
    throw errors.forbidden("this upload token belongs to another upload");
  }
}

/** Uploads, once the row is read: a key must be allowed for its object key, a token must match it. */
export function authorizeUpload(caller: Caller, upload: { upload_id: string; object_key: string }): void {
  authorizeUploadId(caller, upload.upload_id);
  if (caller.kind === "token" && caller.claims.key !== upload.object_key) {
    throw errors.forbidden("this upload token belongs to another upload");
  }
  if (caller.kind === "key" && !keyAllows(caller.key, upload.object_key)) {
    throw errors.forbidden("this API key may not access this upload");
  }
}
