// The pure half of `npm run setup` and `npm run deploy`: argument parsing, which resources an
// environment needs, which secrets each Worker needs, the refusal of development secrets, and
// the commands a deploy runs, in order. No process is started and no file is read here, so all
// of it is tested without an account (test/scripts/). scripts/setup.mjs and scripts/deploy.mjs
// do the I/O.

/** The top level of both wrangler configs is `development`: local only (`npm run dev`, tests). */
export const ENVIRONMENTS = ["development", "staging", "production"];

/** Both Workers, in deploy order: the consumer first, so it understands every message the new producer sends. */
export const WORKERS = [
  // The console first: the producer's CONSOLE service binding needs its target to exist.
  { id: "console", config: "web/wrangler.toml", devVars: "web/.dev.vars" },
  { id: "consumer", config: "consumer/wrangler.toml", devVars: "consumer/.dev.vars" },
  { id: "producer", config: "wrangler.toml", devVars: ".dev.vars" },
];

export class UsageError extends Error {}

/**
 * `--env X [--dry-run] [--secrets-file F] [--outdir D]`; `--env=X` works too. Only the flags
 * in `allowed` are accepted: a typo must stop a deploy, not be ignored.
 * @param {string[]} argv
 * @param {{ allowed: string[] }} options
 * @returns {{ env: string, dryRun: boolean, secretsFile: string | null, outdir: string | null }}
 */
export function parseArgs(argv, { allowed }) {
  /** @type {Record<string, string | true>} */
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = /** @type {string} */ (argv[i]);
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new UsageError(`unexpected argument "${arg}"`);
    const name = /** @type {string} */ (match[1]);
    if (!allowed.includes(name)) throw new UsageError(`unknown option --${name} (known: --${allowed.join(", --")})`);
    if (name in flags) throw new UsageError(`--${name} given twice`);
    if (name === "dry-run") {
      if (match[2] !== undefined) throw new UsageError("--dry-run takes no value");
      flags[name] = true;
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === "" || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
    flags[name] = value;
  }
  const env = flags.env;
  if (typeof env !== "string") throw new UsageError(`--env is required: one of ${ENVIRONMENTS.join(", ")}`);
  if (!ENVIRONMENTS.includes(env))
    throw new UsageError(`unknown environment "${env}": one of ${ENVIRONMENTS.join(", ")}`);
  const text = (/** @type {string} */ name) => (typeof flags[name] === "string" ? flags[name] : null);
  return { env, dryRun: flags["dry-run"] === true, secretsFile: text("secrets-file"), outdir: text("outdir") };
}

/**
 * wrangler's flag for an environment. The top level is named explicitly (`--env=`) so that
 * wrangler knows it was meant and does not warn that several environments exist.
 * @param {string} env
 */
export function envFlag(env) {
  return env === "development" ? ["--env="] : ["--env", env];
}

/**
 * What an environment's Workers need on the account, from their normalized configs (wrangler's
 * readConfig for that env): buckets, databases and every queue named anywhere (produced to,
 * consumed, or used as a dead-letter queue), each once, in a stable order.
 * @param {Array<{ r2_buckets?: Array<{ bucket_name?: unknown }>, d1_databases?: Array<{ database_name?: unknown }>, queues?: { producers?: Array<{ queue?: unknown }>, consumers?: Array<{ queue?: unknown, dead_letter_queue?: unknown }> } }>} configs
 */
export function resourcesOf(configs) {
  const buckets = new Set();
  const databases = new Set();
  const queues = new Set();
  const add = (/** @type {Set<string>} */ set, /** @type {unknown} */ name) => {
    if (typeof name === "string" && name !== "") set.add(name);
  };
  for (const config of configs) {
    for (const bucket of config.r2_buckets ?? []) add(buckets, bucket.bucket_name);
    for (const database of config.d1_databases ?? []) add(databases, database.database_name);
    for (const producer of config.queues?.producers ?? []) add(queues, producer.queue);
    for (const consumer of config.queues?.consumers ?? []) {
      add(queues, consumer.queue);
      add(queues, consumer.dead_letter_queue);
    }
  }
  const sorted = (/** @type {Set<string>} */ set) => [...set].sort();
  return { buckets: sorted(buckets), databases: sorted(databases), queues: sorted(queues) };
}

/**
 * The secrets a Worker of an environment cannot run without. The producer refuses every request
 * without API_KEYS and issues no upload token without TOKEN_SECRET; the consumer signs webhooks
 * with WEBHOOK_SECRET, needed only when the environment sets WEBHOOK_URL. The console serves
 * static files and reads none.
 * @param {string} worker "console", "producer" or "consumer"
 * @param {Record<string, unknown>} vars the environment's vars
 */
export function requiredSecrets(worker, vars) {
  if (worker === "console") return [];
  if (worker === "producer") return ["API_KEYS", "TOKEN_SECRET"];
  const webhookUrl = vars.WEBHOOK_URL;
  return typeof webhookUrl === "string" && webhookUrl.trim() !== "" ? ["WEBHOOK_SECRET"] : [];
}

/** Secrets each Worker reads: a secrets file is split so that a Worker receives its own only. */
export const WORKER_SECRETS = { console: [], producer: ["API_KEYS", "TOKEN_SECRET"], consumer: ["WEBHOOK_SECRET"] };

/**
 * Why a deploy must not go ahead, as sentences; none means it may. What can be checked:
 * - the environment is a deployed one (development is the local top level);
 * - every required secret is either already set on the Worker (its name, from `wrangler secret
 *   list`; Cloudflare never returns values) or in the secrets file given with the deploy;
 * - no value in that file is a value of .dev.vars or consumer/.dev.vars, and none is empty.
 * What cannot: the value of a secret set earlier with `wrangler secret put`.
 * @param {{
 *   env: string,
 *   workers: Array<{ id: string, name: string, required: string[], remote: string[] | null }>,
 *   fileSecrets: Record<string, string> | null,
 *   devSecrets: Record<string, string>,
 * }} input `remote` is null when the Worker does not exist yet
 */
export function secretProblems({ env, workers, fileSecrets, devSecrets }) {
  if (env === "development") {
    return [
      "development is the local top level of the configs (npm run dev, the tests) and is not deployed: use --env staging or --env production",
    ];
  }
  const problems = [];
  const devValues = new Map(Object.entries(devSecrets).map(([name, value]) => [value, name]));
  for (const [name, value] of Object.entries(fileSecrets ?? {})) {
    if (value.trim() === "") problems.push(`${name} is empty in the secrets file`);
    else if (devValues.has(value)) {
      problems.push(
        `${name} in the secrets file has the development value of ${devValues.get(value)} from .dev.vars: generate a new one (docs/operations.md, "API keys and secrets")`,
      );
    } else if (name === "API_KEYS") {
      for (const key of apiKeyValues(value).filter((key) => devValues.has(key) || devKeys(devSecrets).has(key))) {
        problems.push(`API_KEYS in the secrets file contains a development key (${key.slice(0, 8)}…): replace it`);
      }
    }
  }
  for (const worker of workers) {
    const present = new Set([...(worker.remote ?? []), ...Object.keys(fileSecrets ?? {})]);
    const missing = worker.required.filter((name) => !present.has(name));
    if (missing.length === 0) continue;
    const lack =
      worker.remote === null
        ? `${worker.name} does not exist yet and ${fileSecrets === null ? "no secrets file gives" : "the secrets file lacks"}`
        : `${worker.name} has no`;
    const put = `npx wrangler secret put NAME ${envFlag(env).join(" ")}${worker.id === "consumer" ? " -c consumer/wrangler.toml" : ""}`;
    problems.push(`${lack} ${missing.join(", ")}: set each with \`${put}\`, or pass them in --secrets-file`);
  }
  return problems;
}

/** The `key` fields of an API_KEYS JSON array; nothing when it does not parse (the producer reports that). */
export function apiKeyValues(/** @type {string} */ json) {
  try {
    const parsed = JSON.parse(json);
    return Array.isArray(parsed) ? parsed.flatMap((entry) => (typeof entry?.key === "string" ? [entry.key] : [])) : [];
  } catch {
    return [];
  }
}

/** The keys inside the development API_KEYS, so that a production list that reuses one is caught too. */
function devKeys(/** @type {Record<string, string>} */ devSecrets) {
  return new Set(devSecrets.API_KEYS === undefined ? [] : apiKeyValues(devSecrets.API_KEYS));
}

/**
 * The secrets of a file meant for one Worker.
 * @param {Record<string, string>} secrets
 * @param {string} worker
 */
export function secretsFor(secrets, worker) {
  const names = WORKER_SECRETS[/** @type {"console" | "producer" | "consumer"} */ (worker)] ?? [];
  return Object.fromEntries(Object.entries(secrets).filter(([name]) => names.includes(name)));
}

/**
 * The commands of a deploy, in order, as argv arrays for `wrangler` (label says what each is
 * for). A real deploy builds the web app, applies the remote migrations, then deploys the
 * console, the consumer and the producer; a dry run only bundles the three (offline), into
 * `outdir`.
 * @param {{ env: string, dryRun: boolean, outdir: string | null, secretsFiles?: Record<string, string> }} options
 *   secretsFiles: per Worker id, the path of its part of the secrets file
 */
export function deployPlan({ env, dryRun, outdir, secretsFiles = {} }) {
  const flag = envFlag(env);
  /** @type {Array<{ label: string, program: "npm" | "wrangler", args: string[] }>} */
  const steps = [];
  if (!dryRun) {
    steps.push({ label: "build the web app", program: "npm", args: ["run", "build:web"] });
    steps.push({
      label: "apply the remote D1 migrations",
      program: "wrangler",
      args: ["d1", "migrations", "apply", "DB", "--remote", "-c", "wrangler.toml", ...flag],
    });
  }
  for (const worker of WORKERS) {
    const args = ["deploy", "-c", worker.config, ...flag];
    if (dryRun) args.push("--dry-run", "--outdir", `${outdir ?? "dist/deploy"}/${worker.id}`);
    const secrets = secretsFiles[worker.id];
    if (secrets !== undefined) args.push("--secrets-file", secrets);
    steps.push({ label: `${dryRun ? "bundle" : "deploy"} the ${worker.id}`, program: "wrangler", args });
  }
  return steps;
}

/**
 * What setup does for each resource, given what exists: create it, or leave it (found).
 * @param {{ buckets: string[], databases: string[], queues: string[] }} resources
 * @param {{ buckets: Set<string>, databases: Set<string>, queues: Set<string> }} existing
 */
export function setupPlan(resources, existing) {
  /** @type {Array<{ kind: "D1 database" | "R2 bucket" | "queue", name: string, action: "create" | "found" }>} */
  const plan = [];
  for (const name of resources.databases) {
    plan.push({ kind: "D1 database", name, action: existing.databases.has(name) ? "found" : "create" });
  }
  for (const name of resources.buckets) {
    plan.push({ kind: "R2 bucket", name, action: existing.buckets.has(name) ? "found" : "create" });
  }
  for (const name of resources.queues) {
    plan.push({ kind: "queue", name, action: existing.queues.has(name) ? "found" : "create" });
  }
  return plan;
}

/** wrangler's argv that creates one resource of the setup plan. */
export function createCommand(/** @type {{ kind: string, name: string }} */ item) {
  if (item.kind === "D1 database") return ["d1", "create", item.name];
  if (item.kind === "R2 bucket") return ["r2", "bucket", "create", item.name];
  return ["queues", "create", item.name];
}

/**
 * Names in `wrangler d1 list --json` output. wrangler prints no banner with --json; anything
 * before the array (an update notice) is skipped.
 * @param {string} stdout
 */
export function databaseNames(stdout) {
  const start = stdout.indexOf("[");
  if (start === -1) throw new Error(`no JSON array in the output of wrangler d1 list --json:\n${stdout}`);
  const list = JSON.parse(stdout.slice(start));
  return new Set(list.map((/** @type {{ name: string }} */ database) => database.name));
}

/**
 * Whether a failed `wrangler queues info` / `r2 bucket info` says the resource is absent
 * (create it), as opposed to any other failure (login, network: stop). wrangler's own wording
 * for a queue; R2's API error 10006 for a bucket (wrangler's provisioning treats it the same).
 * @param {"queue" | "R2 bucket"} kind
 * @param {string} output stdout and stderr of the failed command
 */
export function saysAbsent(kind, output) {
  return kind === "queue"
    ? /Queue "[^"]+" does not exist/.test(output)
    : /\b10006\b|specified bucket does not exist/i.test(output);
}

/**
 * The bundle sizes in wrangler's output file (WRANGLER_OUTPUT_FILE_PATH, one JSON entry per
 * line): one `deploy` entry per Worker, with its name and sizes.
 * @param {string} ndjson
 */
export function bundleSizes(ndjson) {
  return ndjson
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.type === "deploy" && entry.bundle_size)
    .map((entry) => ({
      worker: String(entry.worker_name),
      rawKiB: entry.bundle_size.raw_bytes / 1024,
      gzipKiB: entry.bundle_size.gzip_bytes / 1024,
      targets: Array.isArray(entry.targets) ? entry.targets.map(String) : [],
    }));
}

/**
 * What a deployed producer's answer to a request carrying a development API key says: refused
 * (401/403, as it must), accepted (its API_KEYS holds a development key: rotate it), or nothing
 * certain (another status; the check is then reported as not done).
 * @param {number} status
 */
export function devKeyVerdict(status) {
  if (status === 401 || status === 403) return "refused";
  if (status >= 200 && status < 300) return "accepted";
  return "unknown";
}
