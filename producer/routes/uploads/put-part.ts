import * as z from "zod/mini";
import { PartNumber, PartUploadedResponse, UploadId } from "../../../shared/schemas";
import { defineRoute } from "../../http/route";
import { declaredSha256 } from "../../integrity";
import { ingestPart } from "../../services/ingest-part";
import { accessibleUpload } from "../../services/status";
import { BodyHeaders, FinalQuery, requireLength } from "../common";

export const putPart = defineRoute(
  {
    method: "put",
    path: "/uploads/{uploadId}/parts/{partNumber}",
    operationId: "putPart",
    summary: "Send one part",
    description:
      "Streams the body into R2 as part `partNumber`. Every part but the last must be exactly the upload's `partSize`. " +
      "A 200 means R2 has the part and it is recorded; sending a part again replaces it.",
    tags: ["uploads"],
    security: "credential",
    params: z.object({ uploadId: UploadId, partNumber: PartNumber }),
    query: FinalQuery,
    headers: BodyHeaders,
    binary: { description: "The part's bytes" },
    responses: { 200: { description: "R2 has the part", json: PartUploadedResponse } },
    errors: {
      404: "No such upload",
      409: "The upload is not open, is a stream, or the final marker conflicts",
      410: "The upload ended and retention pruned it; the body says how and when it ended",
      411: "No Content-Length",
      413: "The part is larger than the upload's part size",
      503: "Storage or the queue is unavailable; send the part again",
    },
  },
  async (c, { params, query, headers, caller }) => {
    const size = requireLength(headers["content-length"]);
    const sha256 = declaredSha256(c.req.raw);
    const upload = await accessibleUpload(c.env.DB, caller, params.uploadId);
    const part = await ingestPart(c.env, upload, {
      partNumber: params.partNumber,
      body: c.req.raw.body,
      size,
      sha256,
      final: query.final ?? false,
    });
    return c.json(part, 200);
  },
);
