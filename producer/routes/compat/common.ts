import * as z from "zod/mini";
import type { UploadRow } from "../../../shared/db/uploads";
import { ApiError } from "../../../shared/errors";
import { ObjectKey, UploadId } from "../../../shared/schemas";
import type { Caller } from "../../auth/middleware";
import type { AppContext } from "../../context";
import { parse } from "../../http/route";
import { accessibleUpload } from "../../services/status";

/**
 * The seed-compatible API is Cloudflare's documented multipart Worker example: `/{key}?action=`.
 * Its keys are the raw path, not URL-decoded, as in the example.
 */
export const KeyPath = z.object({
  key: z.string().check(z.meta({ description: "The object key: the raw, undecoded path" })),
});

export function rawKey(c: AppContext): string {
  return parse(ObjectKey, new URL(c.req.url).pathname.slice(1), "key");
}

export const UploadQuery = z.object({
  uploadId: z.optional(UploadId),
  partNumber: z.optional(z.string().check(z.meta({ description: "Part number, 1 to 5000 (mpu-uploadpart)" }))),
});

export function requireQuery(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new ApiError(400, "invalid_request", `missing ${name}`);
  return value;
}

/** The upload named by the query, for this key, once the caller has shown it may touch it. */
export async function uploadForKey(c: AppContext, caller: Caller, key: string, uploadId: string): Promise<UploadRow> {
  let row: UploadRow;
  try {
    row = await accessibleUpload(c.env.DB, caller, uploadId);
  } catch (error) {
    // The seed's API knows no 410: an upload retention pruned is one it does not know.
    if (error instanceof ApiError && (error.status === 404 || error.status === 410)) throw notFound(uploadId, key);
    throw error;
  }
  if (row.object_key !== key) throw notFound(uploadId, key);
  return row;
}

const notFound = (uploadId: string, key: string) =>
  new ApiError(400, "upload_not_found", `no upload ${uploadId} for key ${key}`);

/** The example answers 400 to every refused write: keep our codes and messages, not our statuses. */
export function asCompatError(error: unknown): unknown {
  if (error instanceof ApiError && [404, 409, 411, 413].includes(error.status) && error.code !== "object_not_found") {
    return new ApiError(400, error.code, error.message, error.details, error.headers);
  }
  return error;
}

export const actionQuery = (actions: [string, ...string[]]) =>
  z.enum(actions, `action must be one of ${actions.join(", ")}`).check(z.meta({ description: "The example's action" }));
