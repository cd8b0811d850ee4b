import * as z from "zod/mini";
import { CompatUploadedPart, PartNumber } from "../../../shared/schemas";
import { defineRoute, parse } from "../../http/route";
import { declaredSha256 } from "../../integrity";
import { ingestPart } from "../../services/ingest-part";
import { BodyHeaders, requireLength } from "../common";
import { KeyPath, rawKey, requireQuery, UploadQuery, uploadForKey } from "./common";
import { unknownAction } from "./post";

export const compatPut = defineRoute(
  {
    method: "put",
    path: "/{key+}",
    operationId: "compatUploadPart",
    summary: "Seed API: mpu-uploadpart",
    description:
      "`?action=mpu-uploadpart&uploadId=&partNumber=` streams the body into R2 as that part, with the same rules as the native part route.",
    tags: ["seed-compatible"],
    security: "credential",
    params: KeyPath,
    query: z.extend(UploadQuery, { action: z.string() }),
    headers: BodyHeaders,
    binary: { description: "The part's bytes" },
    responses: { 200: { description: "R2 has the part", json: CompatUploadedPart } },
    errors: { 503: "Storage or the queue is unavailable; send the part again" },
  },
  async (c, { query, headers, caller }) => {
    const key = rawKey(c);
    if (query.action !== "mpu-uploadpart") throw unknownAction(query.action, "PUT");
    const uploadId = requireQuery(query.uploadId, "uploadId");
    const partNumber = parse(PartNumber, requireQuery(query.partNumber, "partNumber"), "partNumber");
    const size = requireLength(headers["content-length"]);
    const sha256 = declaredSha256(c.req.raw);
    const upload = await uploadForKey(c, caller, key, uploadId);
    const part = await ingestPart(c.env, upload, { partNumber, body: c.req.raw.body, size, sha256, final: false });
    return c.json({ partNumber: part.partNumber, etag: part.etag });
  },
);
