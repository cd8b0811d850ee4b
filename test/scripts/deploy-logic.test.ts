// The decisions of `npm run setup` and `npm run deploy`, without running anything: arguments,
// the refusal of development secrets, what each Worker must have, the order of a deploy.
import { describe, expect, it } from "vitest";
import {
  bundleSizes,
  databaseNames,
  deployPlan,
  devKeyVerdict,
  envFlag,
  parseArgs,
  requiredSecrets,
  saysAbsent,
  secretProblems,
  secretsFor,
  setupPlan,
} from "../../scripts/lib/environments.mjs";

const DEV = {
  API_KEYS: '[{"id":"dev","key":"dev-key-0123456789abcdef"}]',
  TOKEN_SECRET: "dev-token-secret-0123456789abcdef0123456789abcdef",
  WEBHOOK_SECRET: "dev-webhook-secret-0123456789abcdef",
};
const REAL = {
  API_KEYS: '[{"id":"ops","key":"0d3f9c1e7b2a4c6e8f0a1b3c5d7e9f11"}]',
  TOKEN_SECRET: "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffee",
};
const producer = (remote: string[] | null) => ({
  id: "producer",
  name: "ingest-producer-staging",
  required: ["API_KEYS", "TOKEN_SECRET"],
  remote,
});

describe("arguments", () => {
  it("reads the environment, the dry-run flag, a secrets file and an output folder", () => {
    const allowed = ["env", "dry-run", "secrets-file", "outdir"];
    expect(parseArgs(["--env", "staging"], { allowed })).toEqual({
      env: "staging",
      dryRun: false,
      secretsFile: null,
      outdir: null,
    });
    expect(
      parseArgs(["--env=production", "--dry-run", "--secrets-file", "s.env", "--outdir=/tmp/x"], { allowed }),
    ).toEqual({ env: "production", dryRun: true, secretsFile: "s.env", outdir: "/tmp/x" });
  });

  it("refuses a missing or unknown environment, unknown options, repeated options and stray words", () => {
    const allowed = ["env", "dry-run"];
    expect(() => parseArgs([], { allowed })).toThrow(/--env is required/);
    expect(() => parseArgs(["--env", "prod"], { allowed })).toThrow(/unknown environment "prod"/);
    expect(() => parseArgs(["--env"], { allowed })).toThrow(/--env needs a value/);
    expect(() => parseArgs(["--env", "--dry-run"], { allowed })).toThrow(/--env needs a value/);
    expect(() => parseArgs(["--env", "staging", "--dryrun"], { allowed })).toThrow(/unknown option --dryrun/);
    expect(() => parseArgs(["--env", "staging", "--env", "production"], { allowed })).toThrow(/given twice/);
    expect(() => parseArgs(["staging"], { allowed })).toThrow(/unexpected argument/);
    expect(() => parseArgs(["--env", "staging", "--secrets-file", "x"], { allowed })).toThrow(/unknown option/);
  });

  it("names the top level explicitly for wrangler, so that it never guesses an environment", () => {
    expect(envFlag("development")).toEqual(["--env="]);
    expect(envFlag("staging")).toEqual(["--env", "staging"]);
  });
});

describe("secrets a deploy needs", () => {
  it("wants API keys and the token secret for the producer, the webhook secret only when the consumer has a webhook", () => {
    expect(requiredSecrets("console", {})).toEqual([]);
    expect(requiredSecrets("producer", {})).toEqual(["API_KEYS", "TOKEN_SECRET"]);
    expect(requiredSecrets("consumer", { WEBHOOK_URL: "" })).toEqual([]);
    expect(requiredSecrets("consumer", { WEBHOOK_URL: "https://hooks.example/ingest" })).toEqual(["WEBHOOK_SECRET"]);
  });

  it("refuses to deploy development at all", () => {
    expect(secretProblems({ env: "development", workers: [], fileSecrets: REAL, devSecrets: DEV })).toEqual([
      expect.stringMatching(/development is the local top level/),
    ]);
  });

  it("refuses a secrets file that carries a value of .dev.vars, naming the secret and not the value", () => {
    const problems = secretProblems({
      env: "production",
      workers: [producer(null)],
      fileSecrets: { ...REAL, TOKEN_SECRET: DEV.TOKEN_SECRET },
      devSecrets: DEV,
    });
    expect(problems).toEqual([expect.stringMatching(/^TOKEN_SECRET in the secrets file has the development value/)]);
    expect(problems.join("\n")).not.toContain(DEV.TOKEN_SECRET);
  });

  it("refuses an API key list that reuses a development key among real ones", () => {
    const keys = JSON.stringify([
      { id: "ops", key: "0d3f9c1e7b2a4c6e8f0a1b3c5d7e9f11" },
      { id: "old", key: "dev-key-0123456789abcdef" },
    ]);
    expect(
      secretProblems({ env: "staging", workers: [], fileSecrets: { ...REAL, API_KEYS: keys }, devSecrets: DEV }),
    ).toEqual([expect.stringMatching(/API_KEYS in the secrets file contains a development key \(dev-key-…\)/)]);
  });

  it("refuses empty values in the secrets file", () => {
    expect(
      secretProblems({ env: "staging", workers: [], fileSecrets: { TOKEN_SECRET: " " }, devSecrets: DEV }),
    ).toEqual(["TOKEN_SECRET is empty in the secrets file"]);
  });

  it("refuses a first deploy whose secrets are nowhere, and says how to set them for that environment", () => {
    const problems = secretProblems({ env: "staging", workers: [producer(null)], fileSecrets: null, devSecrets: DEV });
    expect(problems).toEqual([
      "ingest-producer-staging does not exist yet and no secrets file gives API_KEYS, TOKEN_SECRET: set each with `npx wrangler secret put NAME --env staging`, or pass them in --secrets-file",
    ]);
  });

  it("refuses a deployed Worker that lacks a secret the file does not bring either", () => {
    const consumer = { id: "consumer", name: "ingest-consumer-staging", required: ["WEBHOOK_SECRET"], remote: [] };
    expect(secretProblems({ env: "staging", workers: [consumer], fileSecrets: REAL, devSecrets: DEV })).toEqual([
      "ingest-consumer-staging has no WEBHOOK_SECRET: set each with `npx wrangler secret put NAME --env staging -c consumer/wrangler.toml`, or pass them in --secrets-file",
    ]);
  });

  it("lets a deploy through when each secret is set on the Worker or in the file", () => {
    const workers = [producer(["API_KEYS"])];
    expect(
      secretProblems({ env: "staging", workers, fileSecrets: { TOKEN_SECRET: REAL.TOKEN_SECRET }, devSecrets: DEV }),
    ).toEqual([]);
    expect(
      secretProblems({
        env: "staging",
        workers: [producer(["API_KEYS", "TOKEN_SECRET"])],
        fileSecrets: null,
        devSecrets: DEV,
      }),
    ).toEqual([]);
  });

  it("reads the deployed producer's answer to a development key: refused, accepted, or not known", () => {
    expect([401, 403].map(devKeyVerdict)).toEqual(["refused", "refused"]);
    expect([200, 204].map(devKeyVerdict)).toEqual(["accepted", "accepted"]);
    expect([404, 500, 503].map(devKeyVerdict)).toEqual(["unknown", "unknown", "unknown"]);
  });

  it("gives each Worker its own secrets from one file", () => {
    const file = { ...REAL, WEBHOOK_SECRET: "whsec_c2VjcmV0", OTHER: "x" };
    expect(secretsFor(file, "producer")).toEqual(REAL);
    expect(secretsFor(file, "consumer")).toEqual({ WEBHOOK_SECRET: "whsec_c2VjcmV0" });
  });
});

describe("the order of a deploy", () => {
  it("builds, migrates the remote database, then deploys the console and the consumer before the producer", () => {
    const plan = deployPlan({
      env: "production",
      dryRun: false,
      outdir: null,
      secretsFiles: { producer: "/tmp/p.json" },
    });
    expect(plan.map((step) => [step.program, ...step.args].join(" "))).toEqual([
      "npm run build:web",
      "wrangler d1 migrations apply DB --remote -c wrangler.toml --env production",
      "wrangler deploy -c web/wrangler.toml --env production",
      "wrangler deploy -c consumer/wrangler.toml --env production",
      "wrangler deploy -c wrangler.toml --env production --secrets-file /tmp/p.json",
    ]);
  });

  it("only bundles the three Workers, offline, in a dry run", () => {
    const plan = deployPlan({ env: "development", dryRun: true, outdir: "/tmp/out" });
    expect(plan.map((step) => [step.program, ...step.args].join(" "))).toEqual([
      "wrangler deploy -c web/wrangler.toml --env= --dry-run --outdir /tmp/out/console",
      "wrangler deploy -c consumer/wrangler.toml --env= --dry-run --outdir /tmp/out/consumer",
      "wrangler deploy -c wrangler.toml --env= --dry-run --outdir /tmp/out/producer",
    ]);
  });

  it("reads each Worker's bundle size from wrangler's output file", () => {
    const ndjson = [
      '{"type":"wrangler-session","version":1}',
      '{"type":"deploy","worker_name":"ingest-producer-staging","bundle_size":{"raw_bytes":188541,"gzip_bytes":61952}}',
      "",
    ].join("\n");
    expect(bundleSizes(ndjson)).toEqual([
      { worker: "ingest-producer-staging", rawKiB: 188541 / 1024, gzipKiB: 60.5, targets: [] },
    ]);
  });
});

describe("setup", () => {
  it("creates only what is missing", () => {
    const plan = setupPlan(
      {
        buckets: ["ingest-uploads-staging"],
        databases: ["ingest-staging"],
        queues: ["ingest-events-staging", "ingest-events-staging-dlq"],
      },
      {
        buckets: new Set(["ingest-uploads-staging"]),
        databases: new Set(),
        queues: new Set(["ingest-events-staging"]),
      },
    );
    expect(plan).toEqual([
      { kind: "D1 database", name: "ingest-staging", action: "create" },
      { kind: "R2 bucket", name: "ingest-uploads-staging", action: "found" },
      { kind: "queue", name: "ingest-events-staging", action: "found" },
      { kind: "queue", name: "ingest-events-staging-dlq", action: "create" },
    ]);
  });

  it("tells a missing resource from a failed lookup", () => {
    expect(saysAbsent("queue", 'Queue "ingest-events-staging" does not exist. To create it, run: ...')).toBe(true);
    expect(saysAbsent("R2 bucket", "The specified bucket does not exist. [code: 10006]")).toBe(true);
    expect(saysAbsent("queue", "In a non-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN")).toBe(
      false,
    );
    expect(saysAbsent("R2 bucket", "Authentication error [code: 10000]")).toBe(false);
  });

  it("reads database names from d1 list --json, past any notice printed before it", () => {
    expect(databaseNames('update available\n[{"uuid":"u1","name":"ingest-staging"}]')).toEqual(
      new Set(["ingest-staging"]),
    );
  });
});
