#!/usr/bin/env node
// A stand-in for the wrangler CLI (and for `npm run build:web`) with a pretend Cloudflare account kept in a JSON file
// (FAKE_WRANGLER_STATE), so that scripts/setup.mjs and scripts/deploy.mjs can be run whole in
// tests with no account. It answers the few commands those scripts use, in the shapes the real
// wrangler 4.164 prints (read from its source): `d1 list --json` is a JSON array, a missing queue
// is `Queue "<name>" does not exist.`, a missing bucket R2's error code 10006, `secret list` a
// JSON array or "not found ... If this is a new Worker". Every call is recorded, in order.
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { parseEnv } from "node:util";

const statePath = process.env.FAKE_WRANGLER_STATE;
if (!statePath) throw new Error("FAKE_WRANGLER_STATE is not set");
const state = JSON.parse(readFileSync(statePath, "utf8"));
const argv = process.argv.slice(2);

/** The value after a flag (`--env x`, `-c x`) or in it (`--env=x`). */
function option(names) {
  for (let i = 0; i < argv.length; i++) {
    for (const name of names) {
      if (argv[i] === name) return argv[i + 1];
      if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
    }
  }
  return undefined;
}

const env = option(["--env", "-e"]) ?? "";
const config = option(["-c", "--config"]) ?? "wrangler.toml";
const workerOf = { "consumer/": "ingest-consumer", "web/": "ingest-console" };
const base = Object.entries(workerOf).find(([folder]) => config.startsWith(folder))?.[1] ?? "ingest-producer";
const worker = `${base}${env === "" ? "" : `-${env}`}`;
const positional = argv.filter(
  (arg, i) => !arg.startsWith("-") && !["-c", "--env", "--secrets-file", "--outdir"].includes(argv[i - 1]),
);
const command = positional.slice(0, 3).join(" ");

let secretNames = null;
const secretsFile = option(["--secrets-file"]);
if (secretsFile !== undefined) {
  const text = readFileSync(secretsFile, "utf8");
  secretNames = Object.keys(text.trimStart().startsWith("{") ? JSON.parse(text) : parseEnv(text));
}
state.calls.push({ argv, worker, secretNames });

const save = () => writeFileSync(statePath, JSON.stringify(state, null, 2));
const out = (text) => process.stdout.write(`${text}\n`);
const error = (text) => {
  save();
  process.stderr.write(`✘ [ERROR] ${text}\n`);
  process.exit(1);
};

const name = positional.at(-1);
if (command.startsWith("run build:web")) {
  // Also the stand-in for `npm run build:web` (INGEST_NPM): recorded, nothing built.
  out("built web/dist");
} else if (command.startsWith("d1 list")) {
  out(
    JSON.stringify(
      state.databases.map((db) => ({ uuid: `uuid-${db}`, name: db })),
      null,
      2,
    ),
  );
} else if (command.startsWith("d1 create")) {
  state.databases.push(name);
  out(`✅ Successfully created DB '${name}'`);
} else if (command.startsWith("d1 migrations apply")) {
  const database = `ingest${env === "" ? "" : `-${env}`}`;
  if (!state.databases.includes(database)) {
    error(
      `Couldn't find a D1 DB named '${database}' (bound as 'DB') in the API. Run 'wrangler d1 create ${database}'.`,
    );
  }
  out(`Migrations applied to ${database}`);
} else if (command.startsWith("r2 bucket info")) {
  if (!state.buckets.includes(name)) {
    error("A request to the Cloudflare API failed.\n  The specified bucket does not exist. [code: 10006]");
  }
  out(JSON.stringify({ name }));
} else if (command.startsWith("r2 bucket create")) {
  state.buckets.push(name);
  out(`Created bucket '${name}'`);
} else if (command.startsWith("queues info")) {
  if (!state.queues.includes(name))
    error(`Queue "${name}" does not exist. To create it, run: wrangler queues create ${name}`);
  out(`Queue Name: ${name}`);
} else if (command.startsWith("queues create")) {
  state.queues.push(name);
  out(`✅ Created queue '${name}'`);
} else if (command.startsWith("secret list")) {
  if (state.unauthenticated) error("In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN");
  const secrets = state.workers[worker];
  if (secrets === undefined) {
    error(
      `Worker "${worker}" (env: ${env}) not found.\n\nIf this is a new Worker, run \`wrangler deploy\` first to create it.`,
    );
  }
  out(
    JSON.stringify(
      secrets.map((secret) => ({ name: secret, type: "secret_text" })),
      null,
      "  ",
    ),
  );
} else if (command.startsWith("deploy")) {
  state.workers[worker] = [...new Set([...(state.workers[worker] ?? []), ...(secretNames ?? [])])];
  if (process.env.WRANGLER_OUTPUT_FILE_PATH) {
    const entry = {
      type: "deploy",
      worker_name: worker,
      // Where the deployed producer answers: FAKE_WRANGLER_PRODUCER_URL (a local server of the test), if given.
      targets:
        worker.startsWith("ingest-producer") && process.env.FAKE_WRANGLER_PRODUCER_URL
          ? [process.env.FAKE_WRANGLER_PRODUCER_URL, "schedule: none"]
          : [],
      bundle_size: { raw_bytes: 2048, gzip_bytes: 1024 },
    };
    appendFileSync(process.env.WRANGLER_OUTPUT_FILE_PATH, `${JSON.stringify(entry)}\n`);
  }
  out(`Deployed ${worker}`);
} else {
  error(`the fake wrangler does not know "${argv.join(" ")}"`);
}
save();
