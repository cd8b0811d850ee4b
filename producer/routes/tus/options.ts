import type { AppContext } from "../../context";
import { defineRoute } from "../../http/route";
import { CHECKSUM_ALGORITHMS, maxUploadSize, TUS_EXTENSIONS, TUS_VERSION } from "../../tus/protocol";
import { IdParams, settingsOf } from "./common";

const capabilities = {
  tags: ["tus"],
  security: "none" as const,
  responses: {
    204: {
      description: "The server's tus capabilities",
      headers: {
        "Tus-Resumable": "1.0.0",
        "Tus-Version": "1.0.0",
        "Tus-Extension": TUS_EXTENSIONS.join(","),
        "Tus-Max-Size": "Largest upload, in bytes",
        "Tus-Checksum-Algorithm": Object.keys(CHECKSUM_ALGORITHMS).join(","),
        "Upload-Part-Size": "The R2 part size, in bytes",
      },
    },
  },
};

function answer(c: AppContext): Response {
  const settings = settingsOf(c);
  return c.body(null, 204, {
    "Tus-Version": TUS_VERSION,
    "Tus-Extension": TUS_EXTENSIONS.join(","),
    "Tus-Max-Size": String(maxUploadSize(settings)),
    "Tus-Checksum-Algorithm": Object.keys(CHECKSUM_ALGORITHMS).join(","),
    "Upload-Part-Size": String(settings.tusPartSize),
  });
}

/** What this tus server supports; tus clients may ask before they upload (tus-js-client does not). */
export const tusOptions = defineRoute(
  {
    ...capabilities,
    method: "options",
    path: "/files/",
    operationId: "tusOptions",
    summary: "tus: what the server supports",
    description:
      "Answers the tus version, extensions, checksum algorithms and maximum size, and `Upload-Part-Size`: the R2 " +
      "part size the byte stream is cut into. Parallel (concatenated) uploads whose partials start on multiples of " +
      "it need the fewest reads to assemble. No credential needed.",
  },
  (c) => answer(c),
);

/** The same answer on an upload URL, where some clients ask. */
export const tusUploadOptions = defineRoute(
  {
    ...capabilities,
    method: "options",
    path: "/files/{uploadId}",
    operationId: "tusUploadOptions",
    summary: "tus: what the server supports (on an upload URL)",
    params: IdParams,
  },
  (c) => answer(c),
);
