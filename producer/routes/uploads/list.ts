import * as z from "zod/mini";
import { ListApi, ListOrder, MAX_LIST_LIMIT, UploadList } from "../../../shared/listing-schemas";
import { MAX_KEY_BYTES, UploadState } from "../../../shared/schemas";
import { defineRoute, parse } from "../../http/route";
import { listPage } from "../../services/listing";

const STATES = UploadState.options.join("|");
const time = (what: string) =>
  z.optional(z.iso.datetime({ offset: true, message: `${what} must be an ISO 8601 time` }));

export const ListUploadsQuery = z.object({
  state: z.optional(
    z
      .string()
      .check(
        z.regex(new RegExp(`^(${STATES})(,(${STATES}))*$`), `state must be among ${STATES}`),
        z.meta({ description: "States, comma-separated or repeated" }),
      ),
  ),
  prefix: z.optional(z.string().check(z.maxLength(MAX_KEY_BYTES), z.meta({ description: "Object key prefix" }))),
  api: z.optional(ListApi),
  createdAfter: time("createdAfter"),
  staleBefore: time("staleBefore"),
  order: z.optional(ListOrder),
  limit: z.optional(
    z.pipe(
      z.string().check(z.regex(/^(200|1[0-9][0-9]|[1-9][0-9]?)$/, `limit must be 1 to ${MAX_LIST_LIMIT}`)),
      z.transform(Number),
    ),
  ),
  cursor: z.optional(z.string().check(z.maxLength(2048), z.meta({ description: "The previous page's nextCursor" }))),
});

export const listUploads = defineRoute(
  {
    method: "get",
    path: "/uploads",
    operationId: "listUploads",
    summary: "List uploads",
    description: "Newest first by default; `expiring`: open uploads, soonest first. See docs/api.md.",
    tags: ["uploads"],
    security: "key",
    query: ListUploadsQuery,
    responses: { 200: { description: "A page of uploads", json: UploadList } },
  },
  async (c, { query, caller }) => {
    // The validator reads one value per parameter; a repeated `state` is read whole here.
    const states = c.req.queries("state") ?? [];
    const all =
      states.length > 1 ? parse(ListUploadsQuery, { ...c.req.query(), state: states.join(",") }, "query") : query;
    return c.json(await listPage(c.env.DB, caller, all));
  },
);
