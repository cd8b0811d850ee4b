import { abortUpload } from "../../../shared/abort";
import { errors } from "../../../shared/errors";
import { defineRoute } from "../../http/route";
import { refusalError, tusStub, uploadGone } from "../../tus/stub";
import { IdParams, TusHeaders } from "./common";

export const tusTerminate = defineRoute(
  {
    method: "delete",
    path: "/files/{uploadId}",
    operationId: "tusTerminate",
    summary: "tus: terminate an upload",
    description: "Aborts the upload and deletes every byte it staged; later requests for it answer 410.",
    tags: ["tus"],
    security: "credential",
    params: IdParams,
    headers: TusHeaders,
    responses: { 204: { description: "Terminated", headers: { "Tus-Resumable": "1.0.0" } } },
    errors: {
      404: "No such upload",
      409: "The upload is complete (or being completed) and can no longer be terminated",
      410: "Already terminated, expired or aborted",
      412: "Tus-Resumable",
    },
  },
  async (c, { params, caller }) => {
    const stub = tusStub(c.env, params.uploadId);
    const snapshot = await stub.describe(caller);
    if (snapshot === null) throw await uploadGone(c.env.DB, params.uploadId);
    if ("refused" in snapshot) throw refusalError(snapshot);
    const ended = await abortUpload(c.env, params.uploadId, "terminated", Date.now());
    if (ended === null) throw await uploadGone(c.env.DB, params.uploadId);
    if (ended.state !== "aborted") throw errors.uploadNotOpen(ended.state, "can no longer be terminated");
    await stub.terminate();
    return c.body(null, 204);
  },
);
