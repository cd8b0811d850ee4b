import { getUpload } from "../../shared/db/uploads";
import { ApiError } from "../../shared/errors";
import type { Env } from "../env";
import type { Refusal } from "./types";
import type { TusUpload } from "./upload-object";

export type TusStub = DurableObjectStub<TusUpload>;

/** The Durable Object of one tus upload, named by the upload id. */
export function tusStub(env: Pick<Env, "TUS_UPLOADS">, uploadId: string): TusStub {
  return env.TUS_UPLOADS.getByName(uploadId);
}

export const refusalError = (refusal: Refusal) => new ApiError(refusal.status, refusal.code, refusal.message);

/**
 * The answer for an upload whose object holds nothing: 410 once it was terminated, expired or
 * swept (D1 still knows it ended), 404 when there never was one.
 */
export async function uploadGone(db: D1Database, uploadId: string): Promise<ApiError> {
  const row = await getUpload(db, uploadId);
  if (row === null || row.api !== "tus")
    return new ApiError(404, "upload_not_found", `no tus upload with id ${uploadId}`);
  return new ApiError(410, "upload_gone", `the upload is ${row.state} and takes no more bytes`, { state: row.state });
}
