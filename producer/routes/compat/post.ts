import * as z from "zod/mini";
import { ApiError } from "../../../shared/errors";
import { CompatCompleteRequest, CompatCreated } from "../../../shared/schemas";
import { authorizeObjectKey } from "../../auth/authorize";
import { ownerOf, tokenSecret } from "../../auth/middleware";
import { config } from "../../context";
import { defineRoute, readJson } from "../../http/route";
import { completeUpload } from "../../services/complete";
import { createUpload, tokenFor } from "../../services/create";
import { KeyPath, rawKey, requireQuery, UploadQuery, uploadForKey } from "./common";

export const compatPost = defineRoute(
  {
    method: "post",
    path: "/{key+}",
    operationId: "compatCreateOrComplete",
    summary: "Seed API: mpu-create, mpu-complete",
    description:
      "`?action=mpu-create` opens an upload for the key and answers `{ key, uploadId }`. " +
      "`?action=mpu-complete&uploadId=` completes it with the parts the client names (`{ parts: [{ partNumber, etag }] }`) " +
      "and answers 200 with the object's ETag. A refused complete changes nothing.",
    tags: ["seed-compatible"],
    security: "credential",
    params: KeyPath,
    query: z.extend(UploadQuery, { action: z.string() }),
    json: { schema: CompatCompleteRequest, optional: true, byHandler: true },
    responses: {
      200: {
        description: "mpu-create: the upload; mpu-complete: no body, the ETag header",
        json: CompatCreated,
        headers: { ETag: "mpu-complete: the object's ETag" },
      },
    },
    errors: {
      429: "mpu-create: this API key has as many open uploads as it may; Retry-After says when to try again",
      503: "Storage or the database is unavailable; try again",
    },
  },
  async (c, { query, caller }) => {
    const key = rawKey(c);
    if (query.action === "mpu-create") {
      authorizeObjectKey(caller, key, "write");
      if (caller.kind === "token")
        throw new ApiError(403, "forbidden", "an upload token only grants access to its own upload");
      const settings = config(c.env);
      const row = await createUpload(c.env, settings, { key, api: "compat", owner: ownerOf(caller) });
      const { uploadToken } = await tokenFor(tokenSecret(c.env), row, settings.tokenTtlSeconds);
      // uploadToken is an extra field: clients of the example ignore it.
      return c.json({ key: row.object_key, uploadId: row.upload_id, uploadToken });
    }
    if (query.action !== "mpu-complete") throw unknownAction(query.action, "POST");
    const uploadId = requireQuery(query.uploadId, "uploadId");
    const { parts } = await readJson(c.req.raw, CompatCompleteRequest, false);
    const upload = await uploadForKey(c, caller, key, uploadId);
    // Completing a completed upload again answers as the first time did: clients retry on timeouts.
    const row =
      upload.state === "completed" ? upload : (await completeUpload(c.env, upload, { kind: "named", parts })).row;
    if (row.state === "completed" && row.object_etag !== null) {
      return new Response(null, { headers: { etag: `"${row.object_etag}"` } });
    }
    if (row.state === "completing") {
      throw new ApiError(400, "upload_completing", "the upload is being completed; try again", undefined, {
        "Retry-After": "1",
      });
    }
    throw new ApiError(
      400,
      row.state === "open" ? "complete_refused" : "upload_not_open",
      row.failure_reason ?? `the upload is ${row.state}`,
    );
  },
);

export function unknownAction(action: string, method: string): ApiError {
  return new ApiError(400, "unknown_action", `unknown action ${action} for ${method}`);
}
