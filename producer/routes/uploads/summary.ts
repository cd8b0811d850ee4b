import { UploadSummary } from "../../../shared/listing-schemas";
import { defineRoute } from "../../http/route";
import { summary } from "../../services/listing";

export const uploadSummary = defineRoute(
  {
    method: "get",
    path: "/uploads/summary",
    operationId: "getUploadSummary",
    summary: "Upload counts at a glance",
    tags: ["uploads"],
    security: "key",
    responses: { 200: { description: "The summary", json: UploadSummary } },
  },
  async (c, { caller }) => c.json(await summary(c.env.DB, caller, Date.now())),
);
