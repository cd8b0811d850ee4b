import * as z from "zod/mini";
import { components } from "../../shared/schemas";
import type { Route, Security } from "./route";

type Spec = Route["spec"];

type Json = Record<string, unknown>;
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/**
 * Builds the OpenAPI 3.1 document from the route declarations: the same objects that validate
 * requests at runtime. Run at build time (`npm run openapi`), never in the Worker.
 */
export function openApiDocument(routes: Route[], info: { title: string; version: string; description: string }): Json {
  const paths: Record<string, Json> = {};
  for (const { spec } of routes) {
    const path = spec.path.replace(/\{(\w+)\+\}/g, "{$1}");
    paths[path] = { ...paths[path], [spec.method]: operation(spec) };
  }
  const schemas: Record<string, Json> = {};
  const generated = z.toJSONSchema(components, { target: "draft-2020-12", uri: (id) => `#/components/schemas/${id}` });
  for (const [id, schema] of Object.entries(generated.schemas)) {
    const { $id: _id, $schema: _schema, ...rest } = schema as Json;
    schemas[id] = rest;
  }
  return {
    openapi: "3.1.0",
    info: { ...info, license: { name: "MIT", identifier: "MIT" } },
    servers: [{ url: "http://127.0.0.1:8787", description: "npm run dev" }],
    tags: [
      { name: "uploads", description: "Uploads made of parts" },
      { name: "streams", description: "Uploads made of chunks of any size" },
      { name: "objects", description: "Finished objects" },
      { name: "seed-compatible", description: "The API of Cloudflare's documented multipart Worker example" },
      { name: "dead-letters", description: "Messages the queue gave up on: list, replay, discard" },
      { name: "meta", description: "This document" },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "An API key from the API_KEYS secret" },
        uploadToken: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "The upload token returned at creation: an HS256 JWT for that one upload",
        },
      },
      responses: {
        Error: { description: "Refused; the body says why", content: { "application/json": { schema: ref("Error") } } },
      },
    },
  };
}

function operation(spec: Spec): Json {
  const op: Json = {
    operationId: spec.operationId,
    summary: spec.summary,
    tags: spec.tags,
    security: securityOf(spec.security),
  };
  if (spec.description !== undefined) op.description = spec.description;
  const parameters = [
    ...fieldsOf(spec.params, "path"),
    ...fieldsOf(spec.query, "query"),
    ...fieldsOf(spec.headers, "header"),
  ];
  if (parameters.length > 0) op.parameters = parameters;
  if (spec.json?.schema !== undefined) {
    op.requestBody = {
      required: spec.json.optional !== true,
      content: { "application/json": { schema: schemaOf(spec.json.schema) } },
    };
  } else if (spec.binary !== undefined) {
    op.requestBody = {
      required: true,
      description: spec.binary.description,
      content: {
        "application/octet-stream": { schema: { type: "string", contentMediaType: "application/octet-stream" } },
      },
    };
  }
  const responses: Json = {};
  for (const [status, response] of Object.entries(spec.responses)) {
    const out: Json = { description: response.description };
    if (response.json !== undefined) out.content = { "application/json": { schema: schemaOf(response.json) } };
    if (response.binary === true)
      out.content = { "*/*": { schema: { type: "string", contentMediaType: "application/octet-stream" } } };
    if (response.headers !== undefined) out.headers = headersOf(response.headers);
    responses[status] = out;
  }
  for (const [status, when] of Object.entries(errorStatuses(spec))) {
    responses[status] = { $ref: "#/components/responses/Error", description: when };
  }
  op.responses = responses;
  return op;
}

/** The refusals every route has from its inputs and security, plus its own. */
function errorStatuses(spec: Spec): Record<string, string> {
  const out: Record<string, string> = {};
  const hasInput =
    spec.params !== undefined || spec.query !== undefined || spec.headers !== undefined || spec.json !== undefined;
  if (hasInput || spec.binary !== undefined)
    out[400] = "The request is malformed; `error.details` names each bad field";
  if (spec.security !== "none") {
    out[401] = "No credential, or one that is unknown, forged or expired";
    out[403] = "The credential may not do this";
  }
  for (const [status, when] of Object.entries(spec.errors ?? {})) out[status] = when;
  if (Object.keys(out).length === 0) out[500] = "Unexpected server error";
  return out;
}

function securityOf(security: Security): Json[] {
  switch (security) {
    case "none":
      return [];
    case "key":
      return [{ apiKey: [] }];
    case "read":
      return [{ apiKey: [] }, {}];
    case "credential":
      return [{ apiKey: [] }, { uploadToken: [] }];
  }
}

function schemaOf(schema: z.core.$ZodType): Json {
  const id = components.get(schema)?.id;
  if (id !== undefined) return ref(id);
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  }) as Json;
  return rest;
}

function fieldsOf(shape: z.core.$ZodObject | undefined, where: "path" | "query" | "header"): Json[] {
  if (shape === undefined) return [];
  const json = schemaOf(shape) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, schema]) => {
    const { description, ...rest } = schema;
    const parameter: Json = {
      name,
      in: where,
      required: where === "path" || (json.required ?? []).includes(name),
      schema: rest,
    };
    if (description !== undefined) parameter.description = description;
    return parameter;
  });
}

function headersOf(headers: Record<string, string>): Json {
  return Object.fromEntries(
    Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
  );
}
