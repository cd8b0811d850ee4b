import * as z from "zod/mini";
import { errors } from "../../../shared/errors";
import { STAGING_PREFIX } from "../../../shared/schemas";
import { authorizeObjectKey } from "../../auth/authorize";
import { defineRoute } from "../../http/route";
import { readObject } from "../../services/objects";
import { KeyPath, rawKey } from "./common";
import { unknownAction } from "./post";

export const compatGet = defineRoute(
  {
    method: "get",
    path: "/{key+}",
    operationId: "compatGetObject",
    summary: "Seed API: get",
    description: "`?action=get` serves the object, as `GET /objects/{key}` does.",
    tags: ["seed-compatible"],
    security: "read",
    params: KeyPath,
    query: z.object({ action: z.string() }),
    responses: { 200: { description: "The object", binary: true, headers: { ETag: "The object's ETag" } } },
    errors: { 404: "No such object" },
  },
  async (c, { query, caller }) => {
    const key = rawKey(c);
    if (query.action !== "get") throw unknownAction(query.action, "GET");
    if (key.startsWith(STAGING_PREFIX)) throw errors.objectNotFound(key);
    authorizeObjectKey(caller, key, "read");
    return readObject(c.env.BUCKET, key, c.req.raw.headers, false);
  },
);
