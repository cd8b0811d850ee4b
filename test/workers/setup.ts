import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach } from "vitest";
import { installLogRouter, printHeldLogs, resetLogs } from "./logs";

// Storage is isolated per test file; migrations are idempotent, so every file gets the schema.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Routine log lines of the Workers print only when a test fails; see logs.ts.
installLogRouter();
beforeEach(({ onTestFailed }) => {
  resetLogs();
  onTestFailed(printHeldLogs);
});
