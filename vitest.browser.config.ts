import { defineConfig } from "vitest/config";

// wrangler's info lines say nothing a test result does not; warnings and errors still show.
process.env.WRANGLER_LOG ??= "warn";

/**
 * Browser tests (`npm run test:browser`): Debian's Chromium, driven by playwright-core, against
 * the web app and both real Workers. One file at a time: a file is a browser plus the Workers'
 * work, which fill the two cores of a machine like CI's.
 */
export default defineConfig({
  test: {
    name: "browser",
    include: ["test/browser/**/*.test.ts"],
    environment: "node",
    globalSetup: ["./test/browser/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The page refreshes every 2 s and the consumer completes uploads within its batch window:
    // expect.poll's default second is too short for either.
    expect: { poll: { timeout: 20_000, interval: 100 } },
  },
});
