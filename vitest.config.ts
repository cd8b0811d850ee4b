import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      projects: [
        {
          // Unit and integration tests inside workerd, against local R2, D1 and Queues. The
          // producer's own wrangler.toml supplies the bindings; tests drive the consumer's
          // handlers directly so that delivery order and duplicates are under their control.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: { bindings: { TEST_MIGRATIONS: migrations } },
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
