// The three real Workers (the producer, the console Worker whose static assets it forwards to,
// the consumer through a local queue; temporary R2 and D1) for every browser test file, started
// once. The web app is built first: the console's [assets] directory (web/dist) must exist before
// the harness reads web/wrangler.toml.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { createTestHarness } from "wrangler";

declare module "vitest" {
  export interface ProvidedContext {
    /** The producer's URL: the web app at `/`, the API beside it. */
    baseUrl: string;
    /** An API key without a prefix: it sees every upload. */
    apiKey: string;
    /** An API key limited to `tenantPrefix`. */
    tenantKey: string;
    tenantPrefix: string;
  }
}

const TENANT_PREFIX = "tenant-b/";

async function buildWebApp(root: string) {
  const { scripts } = JSON.parse(await readFile(`${root}package.json`, "utf8")) as { scripts: Record<string, string> };
  const [command, args] = scripts["build:web"]
    ? ["npm", ["run", "build:web"]]
    : [`${root}node_modules/.bin/vite`, ["build", `${root}web`]];
  try {
    await promisify(execFile)(command, args, { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`building the web app (${command} ${args.join(" ")}) failed:\n${stdout}\n${stderr}`);
  }
}

export default async function setup(project: TestProject) {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  // Screenshots of this run only: no failure picture of an earlier run left to mislead.
  await rm(`${root}test-results/browser`, { recursive: true, force: true });
  await buildWebApp(root);
  const apiKey = `browser-tests-${randomBytes(16).toString("hex")}`;
  const tenantKey = `browser-tests-tenant-${randomBytes(16).toString("hex")}`;
  const server = createTestHarness({
    root,
    // Keys of the tests' own rather than the ones in .dev.vars, which are not theirs to rely on.
    workers: [
      {
        configPath: "./wrangler.toml",
        secrets: {
          API_KEYS: JSON.stringify([
            { id: "browser-tests", key: apiKey },
            { id: "browser-tests-tenant", key: tenantKey, prefix: TENANT_PREFIX },
          ]),
        },
      },
      { configPath: "./consumer/wrangler.toml" },
      { configPath: "./web/wrangler.toml" },
    ],
  });
  const { url } = await server.listen();
  try {
    await server.getWorker("ingest-producer").applyD1Migrations("DB");
    // Every test starts at `/`: fail here, once, with the reason, when the app is not served.
    const page = await fetch(url);
    const body = await page.text();
    if (page.status !== 200 || !page.headers.get("content-type")?.startsWith("text/html")) {
      throw new Error(
        `GET / answered ${page.status} ${page.headers.get("content-type")}, not the web app: ` +
          `does wrangler.toml have [assets] directory = "./web/dist"?\n${body.slice(0, 300)}`,
      );
    }
    // And the scripts and styles it loads (the harness indexes the assets once, when it starts:
    // a rebuild of web/dist during the run leaves index.html naming files it does not serve).
    for (const [, asset] of body.matchAll(/(?:src|href)="(\.?\/assets\/[^"]+)"/g)) {
      const response = await fetch(new URL(asset ?? "", url));
      await response.body?.cancel();
      if (response.status !== 200) throw new Error(`GET ${asset} (named by index.html) answered ${response.status}`);
    }
  } catch (error) {
    await server.close();
    throw error;
  }
  project.provide("baseUrl", url.href);
  project.provide("apiKey", apiKey);
  project.provide("tenantKey", tenantKey);
  project.provide("tenantPrefix", TENANT_PREFIX);
  return () => server.close();
}
