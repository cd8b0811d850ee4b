import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { unstable_readConfig } from "wrangler";

// wrangler's info lines ("Using secrets defined in .dev.vars" per test file, a "[wrangler:info]"
// line per queue batch in the end-to-end tests) say nothing a test result does not; its warnings
// and errors still show. WRANGLER_LOG=log (or debug) brings the rest back.
process.env.WRANGLER_LOG ??= "warn";

/**
 * What the local R2 simulator inside workerd prints when a body stream it reads or sends is cut
 * off. Tests of short and long bodies, and of storage failing in the middle of a coalesce, do
 * that on purpose and assert the outcome. The test plugin already drops other "disconnected: …"
 * lines of the runtime; these are the ones it does not know. SHOW_RUNTIME_LOGS=1 keeps them.
 */
const SIMULATOR_DISCONNECTS =
  /^(?:exception = \S+: disconnected: (?:fixed-length pipe ended prematurely|pump canceled|reader canceled)|uncaught exception; source = Uncaught \(in promise\); stack = (?:Error: Network connection lost\.|TypeError: Can't read from request stream because client disconnected\.))/;

if (process.env.SHOW_RUNTIME_LOGS === undefined) {
  // The plugin writes the runtime's lines straight to this process's stdout or stderr.
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
      typeof chunk === "string" && SIMULATOR_DISCONNECTS.test(chunk)
        ? true
        : write(chunk, ...rest)) as typeof stream.write;
  }
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  const webConsole = unstable_readConfig({ config: "web/wrangler.toml" }, { hideWarnings: true });
  if (webConsole.assets?.directory === undefined) throw new Error("web/wrangler.toml: no [assets] directory");
  return {
    test: {
      // vitest runs (cores - 1) files at once: one at a time on a 2-core machine like CI's, with
      // one core mostly idle, since a file's time goes to workerd and the Workers' own I/O. Two
      // at once: ~30% less wall time there. Each file keeps its own runtime and storage; with
      // `isolate: false` files would share them, and sweeps then abort other files' uploads.
      maxWorkers: Math.max(2, availableParallelism() - 1),
      projects: [
        {
          // Unit and integration tests inside workerd, against local R2, D1 and Queues. The
          // producer's own wrangler.toml supplies the bindings; tests drive the consumer's
          // handlers directly so that delivery order and duplicates are under their control.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: { TEST_MIGRATIONS: migrations },
                // The console Worker from web/wrangler.toml, behind the producer's CONSOLE
                // service binding: static assets only, so its script is an empty module.
                workers: [
                  {
                    name: webConsole.name,
                    compatibilityDate: webConsole.compatibility_date,
                    modules: true,
                    script: "export default {}",
                    assets: { directory: resolve("web", webConsole.assets.directory), hasUserWorker: false },
                  },
                ],
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/workers/**/*.test.ts"],
            setupFiles: ["./test/workers/setup.ts"],
            testTimeout: 30_000,
          },
        },
        {
          // The client library and CLI against both real Workers (started once, in global setup).
          test: {
            name: "client",
            include: ["test/client/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./test/client/global-setup.ts"],
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
        {
          // The API contract on the Node side: the OpenAPI document generated from the routes.
          test: {
            name: "contract",
            include: ["test/contract/**/*.test.ts"],
            environment: "node",
          },
        },
        {
          // npm run setup / deploy: their decisions, both configs per environment, and the
          // scripts run whole against a pretend account (test/scripts/fake-wrangler.mjs).
          test: {
            name: "scripts",
            include: ["test/scripts/**/*.test.ts"],
            environment: "node",
            testTimeout: 60_000,
          },
        },
        {
          // The web app's pure logic (formatting, filters, what the upload page derives from a status).
          test: {
            name: "web",
            include: ["web/src/**/*.test.ts"],
            environment: "node",
          },
        },
        {
          // Both real Workers, from their wrangler configs, wired through a real local queue.
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
