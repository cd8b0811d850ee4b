import * as z from "zod/mini";
import { errors } from "../../../shared/errors";
import { ObjectKey, STAGING_PREFIX } from "../../../shared/schemas";
import { authorizeObjectKey } from "../../auth/authorize";
import type { Caller } from "../../auth/middleware";
import type { AppContext } from "../../context";
import { defineRoute } from "../../http/route";
import { readObject } from "../../services/objects";

const KeyParams = z.object({
  key: z.string().check(z.minLength(1), z.meta({ description: "The object key, slashes and all" })),
});

const ObjectHeaders = z.object({
  range: z.optional(
    z.string().check(z.meta({ description: "One byte range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`" })),
  ),
  "if-none-match": z.optional(z.string().check(z.meta({ description: "ETags; 304 when one matches" }))),
  "if-match": z.optional(z.string().check(z.meta({ description: "ETags; 412 when none matches" }))),
  "if-modified-since": z.optional(z.string()),
  "if-unmodified-since": z.optional(z.string()),
});

const objectResponseHeaders = {
  ETag: "The object's ETag",
  "Last-Modified": "When the object was completed",
  "Accept-Ranges": "Always `bytes`",
  "Content-Length": "Bytes in this response",
};

const contract = {
  path: "/objects/{key+}",
  tags: ["objects"],
  security: "read" as const,
  params: KeyParams,
  headers: ObjectHeaders,
};

async function serve(c: AppContext, key: string, caller: Caller, head: boolean): Promise<Response> {
  // Staged chunks are not objects: answer as if they did not exist.
  if (key.startsWith(STAGING_PREFIX) || !z.safeParse(ObjectKey, key).success) throw errors.objectNotFound(key);
  authorizeObjectKey(caller, key, "read");
  return readObject(c.env.BUCKET, key, c.req.raw.headers, head);
}

export const getObject = defineRoute(
  {
    ...contract,
    method: "get",
    operationId: "getObject",
    summary: "Read a finished object",
    description: "Serves the object with its HTTP metadata; honours one byte `Range` and conditional headers.",
    responses: {
      200: { description: "The whole object", binary: true, headers: objectResponseHeaders },
      206: {
        description: "The requested range",
        binary: true,
        headers: { ...objectResponseHeaders, "Content-Range": "`bytes first-last/size`" },
      },
      304: { description: "Not modified (If-None-Match or If-Modified-Since)", headers: { ETag: "The object's ETag" } },
    },
    errors: {
      404: "No such object",
      412: "A precondition (If-Match, If-Unmodified-Since) failed",
      416: "The range is outside the object",
    },
  },
  (c, { params, caller }) => serve(c, params.key, caller, false),
);

export const headObject = defineRoute(
  {
    ...contract,
    method: "head",
    operationId: "headObject",
    summary: "An object's metadata",
    description: "The headers a GET would send, without the body.",
    responses: { 200: { description: "The object exists", headers: objectResponseHeaders } },
    errors: { 404: "No such object" },
  },
  (c, { params, caller }) => serve(c, params.key, caller, true),
);
