import { ApiError } from "../../../shared/errors";
import { defineRoute } from "../../http/route";
import { appendBytes } from "../../tus/append";
import { OFFSET_OCTET_STREAM, parseChecksum, parseCount } from "../../tus/protocol";
import { tusStub } from "../../tus/stub";
import { IdParams, PatchHeaders, progressHeaders, settingsOf, tusResponseHeaders } from "./common";

export const tusPatch = defineRoute(
  {
    method: "patch",
    path: "/files/{uploadId}",
    operationId: "tusPatch",
    summary: "tus: append bytes",
    description:
      "Appends the body at `Upload-Offset`. Whole parts stream into R2 as they arrive; bytes short of a part are " +
      "stored until the next request completes it. The request that reaches Upload-Length ends the upload: the " +
      "consumer completes the object, with no further call.",
    tags: ["tus"],
    security: "credential",
    params: IdParams,
    headers: PatchHeaders,
    binary: { description: "The bytes to append" },
    responses: { 204: { description: "Stored", headers: tusResponseHeaders } },
    errors: {
      403: "A final upload takes no PATCH",
      404: "No such upload",
      409: "Upload-Offset is not the upload's offset",
      410: "The upload was terminated, expired or aborted",
      412: "Tus-Resumable is missing or not 1.0.0",
      413: "The bytes go beyond Upload-Length",
      415: "Content-Type is not application/offset+octet-stream",
      423: "Another PATCH is writing to this upload",
      460: "Upload-Checksum does not match: none of the bytes were kept",
      503: "Storage, the database or the queue is unavailable: HEAD, then resume",
    },
  },
  async (c, { params, headers, caller }) => {
    if (headers["content-type"].split(";")[0]?.trim().toLowerCase() !== OFFSET_OCTET_STREAM) {
      throw new ApiError(415, "unsupported_media_type", `a PATCH body must be ${OFFSET_OCTET_STREAM}`);
    }
    const offset = parseCount(headers["upload-offset"], "Upload-Offset");
    if (offset === null) throw new ApiError(400, "invalid_header", "Upload-Offset is required");
    const snapshot = await appendBytes(c.env, settingsOf(c), tusStub(c.env, params.uploadId), {
      caller,
      uploadId: params.uploadId,
      offset,
      length: parseCount(headers["upload-length"], "Upload-Length"),
      body: c.req.raw.body,
      contentLength: parseCount(headers["content-length"], "Content-Length"),
      checksum: parseChecksum(headers["upload-checksum"]),
    });
    progressHeaders(c, snapshot);
    return c.body(null, 204);
  },
);
