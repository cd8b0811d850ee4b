import * as z from "zod/mini";
import { ApiError } from "../../shared/errors";
import { defineRoute } from "../http/route";

export const openApi = defineRoute(
  {
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    summary: "This API's OpenAPI 3.1 document",
    description: "Generated from the route declarations (`npm run openapi`) and served as a static document.",
    tags: ["meta"],
    security: "none",
    responses: { 200: { description: "The OpenAPI document", json: z.looseObject({ openapi: z.string() }) } },
  },
  async (c) => {
    // The document ships with the console's static assets (web/vite.config.ts copies it), not in
    // this script: bundling it made the Worker a quarter bigger and slower to start.
    const file = await c.env.CONSOLE?.fetch(new URL("/openapi.json", c.req.url));
    if (file === undefined || !file.ok || file.body === null) {
      throw new ApiError(
        503,
        "document_unavailable",
        "the OpenAPI document is unavailable: the console Worker (the CONSOLE binding) does not serve it",
      );
    }
    return c.body(file.body, 200, { "content-type": "application/json; charset=utf-8" });
  },
);
