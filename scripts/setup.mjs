// npm run setup -- --env staging|production
//
// Creates, once, what an environment's Workers need on the Cloudflare account: its D1 database
// (migrations run before the first deploy, so `deploy`'s own provisioning would come too late),
// its R2 bucket, and its queues: the main queue and the dead-letter queue, which `deploy` never
// creates for a consumer. Everything is looked up first; running it again creates nothing and
// says what it found. Names come from the environment's section of both wrangler configs.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  createCommand,
  databaseNames,
  envFlag,
  resourcesOf,
  saysAbsent,
  setupPlan,
  WORKERS,
} from "./lib/environments.mjs";
import { startScript } from "./lib/start.mjs";

const { root, wrangler, fail, args } = startScript({
  name: "setup",
  usage: "npm run setup -- --env staging",
  allowed: ["env"],
  argv: process.argv.slice(2),
});
const { env } = args;
if (env === "development") fail("development runs locally (npm run dev) and needs nothing on an account");

const { unstable_readConfig } = await import("wrangler");
const resources = resourcesOf(
  WORKERS.map((worker) => unstable_readConfig({ config: join(root, worker.config), env }, { hideWarnings: true })),
);

/** Runs wrangler with the producer's config of this environment, output captured. */
function wranglerRun(/** @type {string[]} */ args) {
  const run = spawnSync(wrangler, [...args, "-c", "wrangler.toml", ...envFlag(env)], { cwd: root, encoding: "utf8" });
  return { ok: run.status === 0, stdout: run.stdout ?? "", output: `${run.stdout ?? ""}\n${run.stderr ?? ""}` };
}

/** Whether a queue or bucket exists: its info command succeeds, or says it is absent; anything else stops setup. */
function exists(/** @type {"queue" | "R2 bucket"} */ kind, /** @type {string} */ name) {
  const run = wranglerRun(kind === "queue" ? ["queues", "info", name] : ["r2", "bucket", "info", name, "--json"]);
  if (run.ok) return true;
  if (saysAbsent(kind, run.output)) return false;
  return fail(`could not look up the ${kind} ${name} (logged in? \`npx wrangler login\`):\n${run.output}`);
}

console.log(`setup: looking up the resources of ${env} on the account`);
const listed = wranglerRun(["d1", "list", "--json"]);
if (!listed.ok) fail(`wrangler d1 list failed (logged in? \`npx wrangler login\`):\n${listed.output}`);
const existing = {
  databases: databaseNames(listed.stdout),
  buckets: new Set(resources.buckets.filter((name) => exists("R2 bucket", name))),
  queues: new Set(resources.queues.filter((name) => exists("queue", name))),
};

const plan = setupPlan(resources, existing);
for (const item of plan.filter((entry) => entry.action === "create")) {
  console.log(`setup: creating the ${item.kind} ${item.name}`);
  const run = wranglerRun(createCommand(item));
  if (!run.ok) fail(`creating the ${item.kind} ${item.name} failed:\n${run.output}`);
}
for (const item of plan)
  console.log(`${item.action === "create" ? "created" : "found  "}  ${item.kind.padEnd(12)} ${item.name}`);
console.log(
  `setup: ${env} is ready. Next: its secrets (npx wrangler secret put API_KEYS ${envFlag(env).join(" ")}, ...) and npm run deploy -- ${envFlag(env).join(" ")}`,
);
