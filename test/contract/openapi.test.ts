import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../producer/http/openapi";
import { compatRoutes, nativeRoutes } from "../../producer/routes/index";
import packageJson from "../../package.json";

const document = openApiDocument([...nativeRoutes, ...compatRoutes], {
  title: "R2 ingest pipeline",
  version: packageJson.version,
  description:
    "Uploads streamed into R2 multipart uploads, tallied in D1 by a queue consumer and completed by it. " +
    "Errors are always `{ error: { code, message, details? } }`.",
});

describe("the OpenAPI document", () => {
  it("is generated from the route declarations and committed as producer/openapi.json (npm run openapi)", async () => {
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("../../producer/openapi.json");
  });

  it("names an operation for every route, each once", () => {
    const ids = [...nativeRoutes, ...compatRoutes].map(({ spec }) => spec.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("declares the credentials every route but the document itself takes", () => {
    for (const { spec } of [...nativeRoutes, ...compatRoutes]) {
      if (spec.operationId === "getOpenApiDocument") expect(spec.security).toBe("none");
      else expect(spec.security).not.toBe("none");
    }
  });

  it("publishes every component without $id, so JSON Schema 2020-12 validators compile it", () => {
    const schemas = (document.components as { schemas: Record<string, object> }).schemas;
    expect(Object.keys(schemas)).toContain("UploadStatus");
    for (const schema of Object.values(schemas)) expect(schema).not.toHaveProperty("$id");
  });
});
