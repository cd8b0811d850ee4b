import { UploadStatus } from "../../../shared/schemas";
import { defineRoute } from "../../http/route";
import { abortUpload } from "../../services/abort";
import { accessibleUpload, statusOf } from "../../services/status";
import { UploadIdParams } from "../common";

export const abort = defineRoute(
  {
    method: "delete",
    path: "/uploads/{uploadId}",
    operationId: "abortUpload",
    summary: "Abort an upload",
    description: "Aborts an open upload and its R2 multipart upload. Aborting an aborted upload again is a no-op.",
    tags: ["uploads"],
    security: "credential",
    params: UploadIdParams,
    responses: { 200: { description: "The upload is aborted", json: UploadStatus } },
    errors: {
      404: "No such upload",
      409: "The upload completed, failed or is being completed",
      410: "The upload ended and retention pruned it; the body says how and when it ended",
    },
  },
  async (c, { params, caller }) => {
    const row = await accessibleUpload(c.env.DB, caller, params.uploadId);
    return c.json(await statusOf(c.env, await abortUpload(c.env, row)));
  },
);
