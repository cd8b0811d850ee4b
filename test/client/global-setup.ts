// One pair of real Workers (producer + consumer through a local queue, temporary R2 and D1)
// for every client test file: booting workerd per file would cost more than the tests. The
// CLI is compiled here, once, because test files running in parallel must not rebuild
// client/dist while another one is running it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { createTestHarness } from "wrangler";

declare module "vitest" {
  export interface ProvidedContext {
    ingestUrl: string;
    ingestToken: string;
  }
}

export default async function setup(project: TestProject) {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  await promisify(execFile)(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}client`]);
  const apiKey = `client-tests-${randomBytes(16).toString("hex")}`;
  const server = createTestHarness({
    root,
    // A key of the tests' own rather than the one in .dev.vars, which is not theirs to rely on.
    workers: [
      { configPath: "./wrangler.toml", secrets: { API_KEYS: JSON.stringify([{ id: "client-tests", key: apiKey }]) } },
      { configPath: "./consumer/wrangler.toml" },
      { configPath: "./web/wrangler.toml" },
    ],
  });
  const { url } = await server.listen();
  await server.getWorker("ingest-producer").applyD1Migrations("DB");
  project.provide("ingestUrl", url.href);
  project.provide("ingestToken", apiKey);
  return () => server.close();
}
