// What scripts/setup.mjs and scripts/deploy.mjs both start with (the I/O half of their shared
// preamble; the pure parsing is in environments.mjs).
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, UsageError } from "./environments.mjs";

/**
 * What both scripts start with: the repository root, the wrangler to run (INGEST_WRANGLER: a
 * stand-in for the account, in the tests), `fail` (message, exit 1) and the parsed arguments
 * (a usage error fails with the usage line).
 * @param {{ name: string, usage: string, allowed: string[], argv: string[] }} options
 */
export function startScript({ name, usage, allowed, argv }) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const wrangler = process.env.INGEST_WRANGLER ?? join(root, "node_modules", ".bin", "wrangler");
  /** @type {(message: string) => never} */
  const fail = (message) => {
    console.error(`${name}: ${message}`);
    process.exit(1);
  };
  try {
    return { root, wrangler, fail, args: parseArgs(argv, { allowed }) };
  } catch (error) {
    if (error instanceof UsageError) fail(`${error.message}\nusage: ${usage}`);
    throw error;
  }
}
