import { CreatedUpload, CreateUploadRequest } from "../../../shared/schemas";
import { authorizeObjectKey } from "../../auth/authorize";
import { ownerOf, tokenSecret } from "../../auth/middleware";
import { config } from "../../context";
import { defineRoute } from "../../http/route";
import { createUpload, tokenFor } from "../../services/create";
import { statusOf } from "../../services/status";

export const create = defineRoute(
  {
    method: "post",
    path: "/uploads",
    operationId: "createUpload",
    summary: "Open an upload",
    description:
      "Opens an R2 multipart upload for `key`. With `parts`, the consumer completes the upload by itself once every part is in; " +
      'with `mode: "stream"`, the client sends chunks of any size instead of parts.',
    tags: ["uploads"],
    security: "key",
    json: { schema: CreateUploadRequest },
    responses: {
      201: {
        description: "The upload is open",
        json: CreatedUpload,
        headers: { Location: "The upload's URL" },
      },
    },
    errors: {
      413: "The JSON body is over 64 KiB",
      429: "This API key has as many open uploads (or streams) as it may; Retry-After says when to try again",
      503: "Storage or the database is unavailable; try again",
    },
  },
  async (c, { body, caller }) => {
    authorizeObjectKey(caller, body.key, "write");
    const settings = config(c.env);
    const row = await createUpload(c.env, settings, { ...body, api: "native", owner: ownerOf(caller) });
    const [status, token] = await Promise.all([
      statusOf(c.env, row),
      tokenFor(tokenSecret(c.env), row, settings.tokenTtlSeconds),
    ]);
    return c.json({ ...status, parts: status.expectedParts, ...token }, 201, {
      Location: `/uploads/${row.upload_id}`,
    });
  },
);
