// client/src/openapi.ts holds the types openapi-typescript makes of the service's published
// document (producer/openapi.json), and the client's request and response types are taken from
// it. This keeps that file what the tool makes of the current document; the type test in
// contract/ then checks that those types are exactly the server's zod schemas.
// Regenerate after the document changed: npx vitest run --project client test/client/openapi-types.test.ts --update
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const TARGET = "client/src/openapi.ts";

/** The repository's formatter, so that formatting the tree leaves the generated file as it is. */
function format(source: string): string {
  const biome = fileURLToPath(new URL("node_modules/.bin/biome", root));
  const result = spawnSync(biome, ["format", `--stdin-file-path=${TARGET}`], {
    cwd: fileURLToPath(root),
    input: source,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`biome format failed: ${result.stderr}`);
  return result.stdout;
}

describe("the client's generated API types", () => {
  it("are what openapi-typescript makes of producer/openapi.json", async () => {
    const note = "// Regenerate: npx vitest run --project client test/client/openapi-types.test.ts --update\n\n";
    const generated = format(
      COMMENT_HEADER + note + astToString(await openapiTS(new URL("producer/openapi.json", root))),
    );
    await expect(generated).toMatchFileSnapshot(`../../${TARGET}`);
  });
});
