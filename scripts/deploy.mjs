// npm run deploy -- --env staging|production [--secrets-file FILE]
// npm run deploy -- --env development|staging|production --dry-run [--outdir DIR]
//
// A deploy refuses to start when a Worker would run without its secrets or with a development
// value (scripts/lib/environments.mjs, secretProblems), then builds the web app, applies the
// remote D1 migrations and deploys the console, the consumer, then the producer (docs/upgrades.md
// says why in that order). --secrets-file (JSON or KEY=value lines) sends the secrets with the
// deploy, each Worker receiving only its own. --dry-run bundles the three Workers offline,
// without an account, and prints one `bundle` line per Worker (CI checks their sizes).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
import {
  apiKeyValues,
  bundleSizes,
  deployPlan,
  devKeyVerdict,
  envFlag,
  requiredSecrets,
  secretProblems,
  secretsFor,
  WORKER_SECRETS,
  WORKERS,
} from "./lib/environments.mjs";
import { startScript } from "./lib/start.mjs";

const { root, wrangler, fail, args } = startScript({
  name: "deploy",
  usage: "npm run deploy -- --env staging [--secrets-file FILE] [--dry-run]",
  allowed: ["env", "dry-run", "secrets-file", "outdir"],
  argv: process.argv.slice(2),
});
// INGEST_NPM: another npm (the tests must not rebuild web/dist under other running tests).
const npm = process.env.INGEST_NPM ?? "npm";
const { env, dryRun } = args;

// wrangler's normalized config of each Worker for this environment (offline).
const { unstable_readConfig } = await import("wrangler");
const configs = Object.fromEntries(
  WORKERS.map((worker) => [
    worker.id,
    unstable_readConfig(
      { config: join(root, worker.config), env: env === "development" ? "" : env },
      { hideWarnings: true },
    ),
  ]),
);

/** @returns {Record<string, string>} */
function readSecretsFile(/** @type {string} */ path) {
  const text = readFileSync(resolve(path), "utf8");
  const parsed = text.trimStart().startsWith("{") ? JSON.parse(text) : parseEnv(text);
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== "string") fail(`${path}: ${name} must be a string (API_KEYS is the JSON array as one string)`);
  }
  return parsed;
}

const devSecrets = Object.assign(
  {},
  ...WORKERS.map((worker) => join(root, worker.devVars))
    .filter((path) => existsSync(path))
    .map((path) => parseEnv(readFileSync(path, "utf8"))),
);
const fileSecrets = args.secretsFile === null ? null : readSecretsFile(args.secretsFile);

/** Names of the secrets set on a deployed Worker, or null when it does not exist yet. */
function remoteSecretNames(/** @type {{ id: string, config: string }} */ worker) {
  const run = spawnSync(wrangler, ["secret", "list", "-c", worker.config, ...envFlag(env)], {
    cwd: root,
    encoding: "utf8",
  });
  const output = `${run.stdout}\n${run.stderr}`;
  if (run.status !== 0) {
    if (/not found/i.test(output) && /new Worker/i.test(output)) return null;
    fail(`wrangler secret list failed for the ${worker.id} (logged in? \`npx wrangler login\`):\n${output}`);
  }
  const list = JSON.parse(run.stdout.slice(run.stdout.indexOf("[")));
  return list.map((/** @type {{ name: string }} */ secret) => secret.name);
}

// What can be checked offline first (the environment, the secrets file), then, for a deploy,
// the secrets already set on each Worker. A dry run of development needs no secrets at all.
if (!(dryRun && env === "development")) {
  const problems = secretProblems({ env, workers: [], fileSecrets, devSecrets });
  if (problems.length > 0) fail(`refusing to deploy ${env}:\n- ${problems.join("\n- ")}`);
}
if (!dryRun) {
  const problems = secretProblems({
    env,
    fileSecrets,
    devSecrets,
    workers: WORKERS.map((worker) => ({
      id: worker.id,
      name: configs[worker.id].name,
      required: requiredSecrets(worker.id, configs[worker.id].vars ?? {}),
      // The console reads no secret: nothing to ask the account about.
      remote: WORKER_SECRETS[worker.id].length === 0 ? [] : remoteSecretNames(worker),
    })),
  });
  if (problems.length > 0) fail(`refusing to deploy ${env}:\n- ${problems.join("\n- ")}`);
}

// Each Worker's share of the secrets file, in a private temporary directory removed at exit.
const scratch = mkdtempSync(join(tmpdir(), "ingest-deploy-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
/** @type {Record<string, string>} */
const secretsFiles = {};
for (const worker of WORKERS) {
  const own = fileSecrets === null ? {} : secretsFor(fileSecrets, worker.id);
  if (Object.keys(own).length === 0) continue;
  secretsFiles[worker.id] = join(scratch, `${worker.id}.secrets.json`);
  writeFileSync(secretsFiles[worker.id], JSON.stringify(own), { mode: 0o600 });
}

// A dry run reuses a built web app (the assets must exist for wrangler to read them).
if (dryRun && !existsSync(join(root, "web", "dist", "index.html"))) {
  run({ label: "build the web app", program: "npm", args: ["run", "build:web", "--", "--logLevel", "warn"] });
}

const outputFile = join(scratch, "wrangler-output.ndjson");
for (const step of deployPlan({ env, dryRun, outdir: args.outdir ?? join(scratch, "bundles"), secretsFiles })) {
  run(step);
}
const bundles = bundleSizes(existsSync(outputFile) ? readFileSync(outputFile, "utf8") : "");
for (const bundle of bundles) {
  console.log(
    `bundle ${bundle.worker} raw_kib=${bundle.rawKiB.toFixed(2)} gzip_kib=${bundle.gzipKiB.toFixed(2)}${bundle.targets.length > 0 ? ` ${bundle.targets.join(" ")}` : ""}`,
  );
}
if (!dryRun) {
  console.log(`deploy: ${env} deployed (migrations, console, consumer, producer)`);
  await checkDevKeysRefused(bundles.find((bundle) => bundle.worker === configs.producer.name)?.targets ?? []);
}

/**
 * The one check of a secret's value there is: Cloudflare never returns one, so ask the deployed
 * producer whether it lets a development API key in. It must answer 401 or 403.
 */
async function checkDevKeysRefused(/** @type {string[]} */ targets) {
  const urls = targets.filter((target) => /^https?:\/\//.test(target));
  const keys = apiKeyValues(devSecrets.API_KEYS ?? "");
  if (keys.length === 0) return;
  if (urls.length === 0) {
    console.warn(
      "deploy: the producer has no workers.dev URL to ask; check by hand that it refuses the development keys",
    );
    return;
  }
  for (const key of keys) {
    const url = new URL("/uploads?limit=1", urls[0]);
    let status;
    try {
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${key}` },
        signal: AbortSignal.timeout(15_000),
      });
      status = response.status;
    } catch (error) {
      console.warn(
        `deploy: could not ask ${url.origin} whether it refuses the development keys (${error}); check by hand`,
      );
      return;
    }
    const verdict = devKeyVerdict(status);
    if (verdict === "accepted") {
      fail(
        `${url.origin} accepts the development API key ${key.slice(0, 8)}… from .dev.vars: set a real API_KEYS now (npx wrangler secret put API_KEYS ${envFlag(env).join(" ")})`,
      );
    }
    if (verdict === "unknown")
      console.warn(`deploy: ${url.origin} answered ${status} to a development key; check by hand`);
  }
  console.log(`deploy: ${urls[0]} refuses the development API keys`);
}

/** Runs one step; a dry run keeps wrangler's output for a failure, a deploy shows it (it may ask). */
function run(/** @type {{ label: string, program: string, args: string[] }} */ step) {
  const program = step.program === "wrangler" ? wrangler : npm;
  console.log(`deploy: ${step.label}: ${step.program} ${step.args.join(" ")}`);
  const result = spawnSync(program, step.args, {
    cwd: root,
    stdio: dryRun ? "pipe" : "inherit",
    encoding: "utf8",
    env: { ...process.env, WRANGLER_OUTPUT_FILE_PATH: outputFile },
  });
  if (result.status !== 0) {
    if (dryRun) console.error(`${result.stdout ?? ""}${result.stderr ?? ""}`);
    const hint = step.args.includes("migrations") ? `; has \`npm run setup -- ${envFlag(env).join(" ")}\` run?` : "";
    fail(`${step.label} failed (exit ${result.status ?? result.signal})${hint}`);
  }
}
