import { CompleteUploadRequest, UploadStatus } from "../../../shared/schemas";
import { defineRoute } from "../../http/route";
import { completeUpload } from "../../services/complete";
import { accessibleUpload, statusOf } from "../../services/status";
import { UploadIdParams } from "../common";

export const complete = defineRoute(
  {
    method: "post",
    path: "/uploads/{uploadId}/complete",
    operationId: "completeUpload",
    summary: "Complete an upload now",
    description:
      "Optional for uploads created with `parts`: the consumer completes them by itself. Required to fix the part count of an upload created without one.",
    tags: ["uploads"],
    security: "credential",
    params: UploadIdParams,
    json: { schema: CompleteUploadRequest, optional: true },
    responses: {
      200: { description: "The upload completed (or failed, see `state`)", json: UploadStatus },
      202: { description: "Parts are still missing or being completed; the consumer completes it", json: UploadStatus },
    },
    errors: {
      404: "No such upload",
      409: "The upload is not open, is a stream, or the count conflicts with the parts received",
      410: "The upload ended and retention pruned it; the body says how and when it ended",
    },
  },
  async (c, { params, body, caller }) => {
    const row = await accessibleUpload(c.env.DB, caller, params.uploadId);
    const { row: after, settled } = await completeUpload(c.env, row, { kind: "count", parts: body.parts });
    return c.json(await statusOf(c.env, after), settled ? 200 : 202);
  },
);
