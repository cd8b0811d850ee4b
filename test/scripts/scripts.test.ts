// `npm run setup` and `npm run deploy` run whole against a pretend account (fake-wrangler.mjs
// stands in for the wrangler CLI and keeps the account in a JSON file): what setup creates and
// finds, what deploy refuses, and the commands it runs, in order.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const FAKE = join(import.meta.dirname, "fake-wrangler.mjs");

type Call = { argv: string[]; worker: string; secretNames: string[] | null };
type Account = {
  databases: string[];
  buckets: string[];
  queues: string[];
  workers: Record<string, string[]>;
  calls: Call[];
};

let dir: string;
let statePath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ingest-scripts-"));
  statePath = join(dir, "account.json");
  account({ databases: [], buckets: [], queues: [], workers: {}, calls: [] });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function account(state?: Account): Account {
  if (state) writeFileSync(statePath, JSON.stringify(state));
  return JSON.parse(readFileSync(statePath, "utf8")) as Account;
}

/**
 * Runs a script like `npm run NAME -- ARGS`, against the pretend account; its calls start afresh.
 * Asynchronous, so that a server of this test can answer the script meanwhile.
 */
async function run(script: "setup" | "deploy", args: string[], extraEnv: Record<string, string> = {}) {
  account({ ...account(), calls: [] });
  const child = spawn(process.execPath, [join(ROOT, "scripts", `${script}.mjs`), ...args], {
    cwd: ROOT,
    env: { ...process.env, INGEST_WRANGLER: FAKE, INGEST_NPM: FAKE, FAKE_WRANGLER_STATE: statePath, ...extraEnv },
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { status, output, calls: account().calls };
}

/** A stand-in for the deployed producer that answers GET /uploads with `status`; its URL and the keys it saw. */
async function producerAnswering(status: number) {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url} ${request.headers.authorization}`);
    response.writeHead(status, { "content-type": "application/json" }).end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** "d1 migrations apply", "deploy": the words before the first flag, at most three. */
const commandOf = (call: Call) => {
  const firstFlag = call.argv.findIndex((arg) => arg.startsWith("-"));
  return call.argv.slice(0, Math.min(3, firstFlag === -1 ? call.argv.length : firstFlag)).join(" ");
};

function secretsFile(values: Record<string, string>) {
  const path = join(dir, "secrets.env");
  writeFileSync(
    path,
    Object.entries(values)
      .map(([name, value]) => `${name}='${value}'\n`)
      .join(""),
  );
  return path;
}

const REAL = {
  API_KEYS: '[{"id":"ops","key":"4b1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e"}]',
  TOKEN_SECRET: "a5f0e1d2c3b4a5968778695a4b3c2d1e0f",
};

describe("npm run setup", () => {
  it("creates the environment's database, bucket, queue and dead-letter queue, and finds them the second time", async () => {
    const first = await run("setup", ["--env", "staging"]);
    expect(first.status, first.output).toBe(0);
    expect(account()).toMatchObject({
      databases: ["ingest-staging"],
      buckets: ["ingest-uploads-staging"],
      queues: ["ingest-events-staging", "ingest-events-staging-dlq"],
    });
    expect(first.output).toMatch(/created +D1 database +ingest-staging/);
    expect(first.output).toMatch(/created +queue +ingest-events-staging-dlq/);

    const second = await run("setup", ["--env", "staging"]);
    expect(second.status, second.output).toBe(0);
    expect(second.calls.map(commandOf).filter((command) => command.includes("create"))).toEqual([]);
    expect(second.output).toMatch(/found +R2 bucket +ingest-uploads-staging/);
    expect(account().queues).toEqual(["ingest-events-staging", "ingest-events-staging-dlq"]);
  });

  it("leaves another environment's resources alone", async () => {
    await run("setup", ["--env", "staging"]);
    const production = await run("setup", ["--env", "production"]);
    expect(production.status, production.output).toBe(0);
    expect(account().databases).toEqual(["ingest-staging", "ingest-production"]);
    expect(production.calls.every((call) => call.argv.includes("production"))).toBe(true);
  });

  it("has nothing to create for development", async () => {
    const result = await run("setup", ["--env", "development"]);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/development runs locally/);
    expect(result.calls).toEqual([]);
  });
});

describe("npm run deploy", () => {
  beforeEach(() => {
    // What `npm run setup -- --env staging` leaves (tested above).
    account({
      databases: ["ingest-staging"],
      buckets: ["ingest-uploads-staging"],
      queues: ["ingest-events-staging", "ingest-events-staging-dlq"],
      workers: {},
      calls: [],
    });
  });

  it("refuses a first deploy without secrets, before migrating or deploying anything", async () => {
    const result = await run("deploy", ["--env", "staging"]);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(
      /ingest-producer-staging does not exist yet and no secrets file gives API_KEYS, TOKEN_SECRET/,
    );
    expect(result.calls.map(commandOf)).toEqual(["secret list", "secret list"]);
  });

  it("refuses the development secrets of .dev.vars without asking the account anything", async () => {
    const dev = readFileSync(join(ROOT, ".dev.vars"), "utf8");
    writeFileSync(join(dir, "copied.env"), dev);
    const result = await run("deploy", ["--env", "staging", "--secrets-file", join(dir, "copied.env")]);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(/API_KEYS in the secrets file has the development value/);
    expect(result.calls).toEqual([]);
  });

  it("migrates, then deploys the console, the consumer, then the producer with its own secrets only", {
    timeout: 120_000,
  }, async () => {
    const producer = await producerAnswering(401);
    try {
      const file = secretsFile({ ...REAL, WEBHOOK_SECRET: "whsec_dGhpcyBpcyBub3QgYSBkZXYgdmFsdWU=" });
      const result = await run("deploy", ["--env", "staging", "--secrets-file", file], {
        FAKE_WRANGLER_PRODUCER_URL: producer.url,
      });
      expect(result.status, result.output).toBe(0);
      expect(result.calls.map(commandOf)).toEqual([
        "secret list",
        "secret list",
        "run build:web",
        "d1 migrations apply",
        "deploy",
        "deploy",
        "deploy",
      ]);
      expect(result.calls[3]!.argv).toEqual([
        "d1",
        "migrations",
        "apply",
        "DB",
        "--remote",
        "-c",
        "wrangler.toml",
        "--env",
        "staging",
      ]);
      expect(result.calls.slice(4).map((call) => [call.worker, call.secretNames])).toEqual([
        ["ingest-console-staging", null],
        ["ingest-consumer-staging", ["WEBHOOK_SECRET"]],
        ["ingest-producer-staging", ["API_KEYS", "TOKEN_SECRET"]],
      ]);
      // Then it asks the deployed producer whether the development keys get in: they must not.
      expect(producer.seen).toEqual([
        "GET /uploads?limit=1 Bearer dev-key-0123456789abcdef",
        "GET /uploads?limit=1 Bearer dev-fleet-key-0123456789abcdef",
      ]);
      expect(result.output).toMatch(/refuses the development API keys/);
    } finally {
      await producer.close();
    }

    // The secrets now live on the Workers: the next deploy needs no file.
    const again = await run("deploy", ["--env", "staging"]);
    expect(again.status, again.output).toBe(0);
    expect(again.calls.map(commandOf)).toContain("deploy");
  });

  it("fails when the deployed producer lets a development key in", { timeout: 120_000 }, async () => {
    const producer = await producerAnswering(200);
    try {
      const result = await run("deploy", ["--env", "staging", "--secrets-file", secretsFile(REAL)], {
        FAKE_WRANGLER_PRODUCER_URL: producer.url,
      });
      expect(result.status).toBe(1);
      expect(result.output).toMatch(
        /accepts the development API key dev-key-… from \.dev\.vars: set a real API_KEYS now/,
      );
    } finally {
      await producer.close();
    }
  });

  it("stops when the migrations fail, before either Worker changes", { timeout: 120_000 }, async () => {
    account({ ...account(), databases: [] });
    const result = await run("deploy", ["--env", "staging", "--secrets-file", secretsFile(REAL)]);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(
      /apply the remote D1 migrations failed \(exit 1\); has `npm run setup -- --env staging` run\?/,
    );
    expect(result.calls.map(commandOf)).not.toContain("deploy");
  });
});
