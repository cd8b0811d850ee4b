import { ApiError } from "../../../shared/errors";
import { tokenSecret } from "../../auth/middleware";
import { defineRoute } from "../../http/route";
import { abortUpload } from "../../services/abort";
import { tokenFor } from "../../services/create";
import { appendBytes } from "../../tus/append";
import { createTusUpload } from "../../tus/create";
import { OFFSET_OCTET_STREAM, parseChecksum, parseConcat, parseCount } from "../../tus/protocol";
import { tusStub } from "../../tus/stub";
import type { TusSnapshot } from "../../tus/types";
import { progressHeaders, settingsOf, tusResponseHeaders, UploadHeaders, uploadUrl } from "./common";

export const tusCreate = defineRoute(
  {
    method: "post",
    path: "/files/",
    operationId: "tusCreate",
    summary: "tus: create an upload",
    description:
      "tus creation, creation-with-upload, creation-defer-length and concatenation. The upload id in `Location` " +
      "is the one `GET /uploads/{uploadId}` knows. Metadata `key` names the object key (else `filename` under " +
      "TUS_KEY_PREFIX with the upload id); `filetype` sets its Content-Type; other pairs become custom metadata.",
    tags: ["tus"],
    security: "key",
    headers: UploadHeaders,
    binary: { description: "Optional: the upload's first bytes (creation-with-upload)" },
    responses: {
      201: {
        description: "Created",
        headers: {
          ...tusResponseHeaders,
          Location: "The upload URL",
          "Upload-Part-Size": "The R2 part size, in bytes",
          "Upload-Token": "A credential for this upload only (when upload tokens are enabled)",
        },
      },
    },
    errors: {
      409: "A partial upload named in Upload-Concat went into another final upload",
      412: "Tus-Resumable is missing or not 1.0.0",
      413: "Upload-Length is over Tus-Max-Size",
      429: "Too many open uploads for this API key",
      460: "Upload-Checksum does not match the request's bytes",
    },
  },
  async (c, { headers, caller }) => {
    const settings = settingsOf(c);
    const withBytes = headers["content-type"] === OFFSET_OCTET_STREAM;
    const checksum = withBytes ? parseChecksum(headers["upload-checksum"]) : null;
    const contentLength = parseCount(headers["content-length"], "Content-Length");
    const length = parseCount(headers["upload-length"], "Upload-Length");
    if (withBytes && contentLength !== null && length !== null && contentLength > length) {
      throw new ApiError(413, "exceeds_length", `the body is longer than Upload-Length ${length}`);
    }
    const { row, meta } = await createTusUpload(c.env, settings, {
      caller,
      length,
      deferLength: headers["upload-defer-length"] === "1",
      metadata: headers["upload-metadata"],
      concat: parseConcat(headers["upload-concat"]),
    });
    const stub = tusStub(c.env, row.upload_id);
    let snapshot: TusSnapshot = {
      meta,
      parts: 0,
      tailBytes: 0,
      offset: meta.concat === "final" ? (meta.length ?? 0) : 0,
    };
    // Bytes sent with the creation, and the one empty part an empty upload consists of.
    if ((withBytes && contentLength !== 0) || meta.length === 0) {
      snapshot = await appendBytes(c.env, settings, stub, {
        caller,
        uploadId: row.upload_id,
        offset: 0,
        length: null,
        body: withBytes ? c.req.raw.body : null,
        contentLength: withBytes ? contentLength : 0,
        checksum,
      }).catch(async (error: unknown) => {
        // The client never learns this upload's URL, so nobody could resume or end it: end it now.
        await abortUpload(c.env, row).catch(() => undefined);
        throw error;
      });
    }
    progressHeaders(c, snapshot);
    const { uploadToken } = await tokenFor(tokenSecret(c.env), row, settings.tokenTtlSeconds);
    if (uploadToken !== null) c.header("Upload-Token", uploadToken);
    c.header("Location", uploadUrl(c, row.upload_id));
    return c.body(null, 201);
  },
);
