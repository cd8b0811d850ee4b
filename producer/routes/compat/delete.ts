import * as z from "zod/mini";
import { ApiError } from "../../../shared/errors";
import { authorizeObjectKey } from "../../auth/authorize";
import { defineRoute } from "../../http/route";
import { abortUpload } from "../../services/abort";
import { KeyPath, rawKey, requireQuery, UploadQuery, uploadForKey } from "./common";
import { unknownAction } from "./post";

export const compatDelete = defineRoute(
  {
    method: "delete",
    path: "/{key+}",
    operationId: "compatAbortOrDelete",
    summary: "Seed API: mpu-abort, delete",
    description:
      "`?action=mpu-abort&uploadId=` aborts the upload; `?action=delete` deletes the object. Both answer 204.",
    tags: ["seed-compatible"],
    security: "credential",
    params: KeyPath,
    query: z.extend(UploadQuery, { action: z.string() }),
    responses: { 204: { description: "Aborted, or deleted" } },
  },
  async (c, { query, caller }) => {
    const key = rawKey(c);
    if (query.action === "delete") {
      if (caller.kind === "token")
        throw new ApiError(403, "forbidden", "an upload token only grants access to its own upload");
      authorizeObjectKey(caller, key, "write");
      await c.env.BUCKET.delete(key);
      return c.body(null, 204);
    }
    if (query.action !== "mpu-abort") throw unknownAction(query.action, "DELETE");
    const upload = await uploadForKey(c, caller, key, requireQuery(query.uploadId, "uploadId"));
    await abortUpload(c.env, upload);
    return c.body(null, 204);
  },
);
