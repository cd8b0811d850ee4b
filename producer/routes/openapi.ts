import * as z from "zod/mini";
import { defineRoute } from "../http/route";
import document from "../openapi.json";

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
  (c) => c.json(document),
);
