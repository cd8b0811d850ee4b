import { UploadStatus } from "../../../shared/schemas";
import { defineRoute } from "../../http/route";
import { accessibleUpload, statusOf } from "../../services/status";
import { UploadIdParams } from "../common";

export const status = defineRoute(
  {
    method: "get",
    path: "/uploads/{uploadId}",
    operationId: "getUpload",
    summary: "An upload's status",
    description: "Its state, the parts recorded and missing, and for a stream its chunks.",
    tags: ["uploads"],
    security: "credential",
    params: UploadIdParams,
    responses: { 200: { description: "The upload's status", json: UploadStatus } },
    errors: {
      404: "No such upload",
      410: "The upload ended and retention pruned it; the body says how and when it ended",
    },
  },
  async (c, { params, caller }) => {
    const row = await accessibleUpload(c.env.DB, caller, params.uploadId);
    return c.json(await statusOf(c.env, row));
  },
);
