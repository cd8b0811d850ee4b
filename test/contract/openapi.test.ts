// The API contract, checked on the Node side. The OpenAPI document is generated from the route
// declarations and committed as producer/openapi.json (served by GET /openapi.json); the client's
// types are what openapi-typescript makes of that document, committed as client/src/openapi.ts.
// Both are compared with what is committed, so CI fails when either is stale.
// Regenerate both after a route or schema changed: npm run openapi
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { describe, expect, it } from "vitest";
import packageJson from "../../package.json";
import { openApiDocument } from "../../producer/http/openapi";
import { compatRoutes, nativeRoutes } from "../../producer/routes/index";

const root = new URL("../../", import.meta.url);
const routes = [...nativeRoutes, ...compatRoutes];
const document = openApiDocument(routes, {
  title: "R2 ingest pipeline",
  version: packageJson.version,
  description:
    "Uploads streamed into R2 multipart uploads, tallied in D1 by a queue consumer and completed by it. " +
    "Errors are always `{ error: { code, message, details? } }`.",
});

/** The repository's formatter, so that formatting the tree leaves the generated file as it is. */
function format(source: string, path: string): string {
  const biome = fileURLToPath(new URL("node_modules/.bin/biome", root));
  const result = spawnSync(biome, ["format", `--stdin-file-path=${path}`], {
    cwd: fileURLToPath(root),
    input: source,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`biome format failed: ${result.stderr}`);
  return result.stdout;
}

describe("the OpenAPI document", () => {
  it("is generated from the route declarations and committed as producer/openapi.json", async () => {
    await expect(`${JSON.stringify(document, null, 2)}\n`).toMatchFileSnapshot("../../producer/openapi.json");
  });

  it("names an operation for every route, each once", () => {
    const ids = routes.map(({ spec }) => spec.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("declares the credentials every route takes but the document, tus's capabilities and the health check", () => {
    const open = ["getOpenApiDocument", "tusOptions", "tusUploadOptions", "getHealth"];
    for (const { spec } of routes) {
      if (open.includes(spec.operationId)) expect(spec.security).toBe("none");
      else expect(spec.security).not.toBe("none");
    }
  });

  it("publishes every component without $id, so JSON Schema 2020-12 validators compile it", () => {
    const schemas = (document.components as { schemas: Record<string, object> }).schemas;
    expect(Object.keys(schemas)).toContain("UploadStatus");
    for (const schema of Object.values(schemas)) expect(schema).not.toHaveProperty("$id");
  });
});

describe("the client's generated API types", () => {
  it("are what openapi-typescript makes of the document, committed as client/src/openapi.ts", async () => {
    const note = "// Regenerate: npm run openapi\n\n";
    const source = COMMENT_HEADER + note + astToString(await openapiTS(JSON.stringify(document)));
    await expect(format(source, "client/src/openapi.ts")).toMatchFileSnapshot("../../client/src/openapi.ts");
  });
});
