import { getTusUpload } from "../../../shared/db/tus";
import { getUpload } from "../../../shared/db/uploads";
import { authorizeUpload } from "../../auth/authorize";
import { defineRoute } from "../../http/route";
import { refusalError, tusStub, uploadGone } from "../../tus/stub";
import { IdParams, progressHeaders, TusHeaders, tusResponseHeaders } from "./common";

export const tusHead = defineRoute(
  {
    method: "head",
    path: "/files/{uploadId}",
    operationId: "tusHead",
    summary: "tus: where to resume",
    description: "`Upload-Offset` is every byte the server holds durably: resume a PATCH there.",
    tags: ["tus"],
    security: "credential",
    params: IdParams,
    headers: TusHeaders,
    responses: {
      200: {
        description: "The upload's offset and length",
        headers: {
          ...tusResponseHeaders,
          "Upload-Length": "The upload's size, once known",
          "Upload-Defer-Length": "`1` while the size is not known",
          "Upload-Metadata": "The metadata as sent",
          "Upload-Concat": "`partial`, or `final;<urls>`",
          "Cache-Control": "no-store",
        },
      },
    },
    errors: { 404: "No such upload", 410: "The upload was terminated, expired or aborted", 412: "Tus-Resumable" },
  },
  async (c, { params, caller }) => {
    c.header("Cache-Control", "no-store");
    const stub = tusStub(c.env, params.uploadId);
    const [snapshot, row] = await Promise.all([stub.describe(caller), getUpload(c.env.DB, params.uploadId)]);
    if (snapshot !== null && "refused" in snapshot) throw refusalError(snapshot);
    if (snapshot !== null && (row === null || row.state === "aborted" || row.state === "failed")) {
      // It ended elsewhere (swept, aborted through the native API): drop what the object held.
      await stub.terminate();
      throw await uploadGone(c.env.DB, params.uploadId);
    }
    if (snapshot !== null) {
      const { meta } = snapshot;
      progressHeaders(c, snapshot);
      if (meta.length === null) c.header("Upload-Defer-Length", "1");
      else c.header("Upload-Length", String(meta.length));
      if (meta.metadata !== null) c.header("Upload-Metadata", meta.metadata);
      if (meta.concat === "partial") c.header("Upload-Concat", "partial");
      if (meta.concat === "final") {
        const urls = (meta.partials ?? []).map((p) => new URL(`/files/${p.uploadId}`, c.req.url).href);
        c.header("Upload-Concat", `final;${urls.join(" ")}`);
      }
      return c.body(null, 200);
    }
    // The object's storage is gone after expiry: a completed upload still answers from D1.
    const tus = await getTusUpload(c.env.DB, params.uploadId);
    if (row === null || tus === null || row.state !== "completed") throw await uploadGone(c.env.DB, params.uploadId);
    authorizeUpload(caller, row);
    const length = String(row.object_size ?? tus.upload_length ?? 0);
    c.header("Upload-Offset", length);
    c.header("Upload-Length", length);
    if (tus.upload_metadata !== null) c.header("Upload-Metadata", tus.upload_metadata);
    return c.body(null, 200);
  },
);
