// `ingest list` and `ingest summary` against the real Workers: uploads in every state under a
// prefix of this file's own (other files upload to the same server meanwhile), then listed back
// through the CLI as scripts and people read it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { abortUpload, createUpload } from "../../client/src/api.js";
import { shellWord } from "../../client/src/cli/format.js";
import type { UploadList, UploadListItem, UploadSummary } from "../../client/src/contract.js";
import { createTransport } from "../../client/src/http.js";
import { CLI, type CliRun, runCli } from "./cli-helpers.js";
import { endpoint, PART, server, token } from "./helpers.js";

const PREFIX = `client-tests/list-${Date.now()}-${randomBytes(4).toString("hex")}/`;
const HOUR = 3600;
const run = promisify(execFile);

let dir: string;
const env = () => ({ INGEST_ENDPOINT: endpoint(), INGEST_TOKEN: token() });
const ingest = (...args: string[]) => runCli(args, { cwd: dir, env: env() });
const parsed = <T>(run: CliRun): T => {
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout.toString()) as T;
};
const keysOf = (items: readonly UploadListItem[]) => items.map((item) => item.key.slice(PREFIX.length)).sort();

/** The uploads this file made, by name, as the server created them. */
const made: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ingest-list-"));
  const transport = createTransport(server());
  const open = async (name: string, request: { staleAfterSeconds: number; mode?: "stream" }) => {
    made[name] = (await createUpload(transport, { key: PREFIX + name, parts: 2, partSize: PART, ...request })).uploadId;
  };
  // One at a time, so that their creation times differ.
  for (const name of ["done/a.bin", "done/b.bin"]) {
    const run = await runCli(["upload", "-", "--key", PREFIX + name, "--wait", "--json"], {
      cwd: dir,
      env: env(),
      input: Buffer.from(name),
    });
    made[name] = parsed<{ uploadId: string }>(run).uploadId;
  }
  await open("open/soon.bin", { staleAfterSeconds: HOUR / 2 });
  await open("open/later.bin", { staleAfterSeconds: 2 * HOUR });
  made["stream/s.bin"] = (await createUpload(transport, { key: `${PREFIX}stream/s.bin`, mode: "stream" })).uploadId;
  await open("gone/x.bin", { staleAfterSeconds: 2 * HOUR });
  await abortUpload(transport, made["gone/x.bin"] as string);
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe("ingest list", () => {
  it("prints a page as JSON, newest first, every item with its compact status", async () => {
    const page = parsed<UploadList>(await ingest("list", "--prefix", PREFIX, "--json"));
    expect(page.nextCursor).toBeNull();
    expect(keysOf(page.items)).toEqual(Object.keys(made).sort());
    const created = page.items.map((item) => Date.parse(item.createdAt));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    const byKey = new Map(page.items.map((item) => [item.key.slice(PREFIX.length), item]));
    expect(byKey.get("done/a.bin")).toMatchObject({
      uploadId: made["done/a.bin"],
      state: "completed",
      size: "done/a.bin".length,
      expiresAt: null,
    });
    expect(byKey.get("open/soon.bin")).toMatchObject({ state: "open", expectedParts: 2, receivedParts: 0, size: null });
    expect(byKey.get("open/soon.bin")?.expiresAt).toEqual(expect.any(String));
    expect(byKey.get("gone/x.bin")).toMatchObject({ state: "aborted", reason: "client", expiresAt: null });
    expect(byKey.get("stream/s.bin")).toMatchObject({ mode: "stream", state: "open" });
  });

  it("filters by state (repeated or a comma list), api, and a narrower prefix", async () => {
    const list = async (...flags: string[]) =>
      keysOf(parsed<UploadList>(await ingest("list", "--json", ...flags)).items);
    const [open, finished, stopped, stream, native, done] = await Promise.all([
      list("--prefix", PREFIX, "--state", "open"),
      list("--prefix", PREFIX, "--state", "aborted", "--state", "completed"),
      list("--prefix", PREFIX, "--state", "aborted,failed"),
      list("--prefix", PREFIX, "--api", "stream"),
      list("--prefix", PREFIX, "--api", "native"),
      list("--prefix", `${PREFIX}done/`),
    ]);
    expect(open).toEqual(["open/later.bin", "open/soon.bin", "stream/s.bin"]);
    expect(finished).toEqual(["done/a.bin", "done/b.bin", "gone/x.bin"]);
    expect(stopped).toEqual(["gone/x.bin"]);
    expect(stream).toEqual(["stream/s.bin"]);
    expect(native).toEqual(["done/a.bin", "done/b.bin", "gone/x.bin", "open/later.bin", "open/soon.bin"]);
    expect(done).toEqual(["done/a.bin", "done/b.bin"]);
  });

  it("orders by expiry and picks open uploads past a time", async () => {
    const expiring = parsed<UploadList>(
      await ingest("list", "--prefix", `${PREFIX}open/`, "--order", "expiring", "--json"),
    );
    expect(expiring.items.map((item) => item.key.slice(PREFIX.length))).toEqual(["open/soon.bin", "open/later.bin"]);
    const inAnHour = new Date(Date.now() + HOUR * 1000).toISOString();
    const stale = parsed<UploadList>(await ingest("list", "--prefix", PREFIX, "--stale-before", inAnHour, "--json"));
    expect(keysOf(stale.items)).toEqual(["open/soon.bin"]);
    const none = parsed<UploadList>(await ingest("list", "--prefix", PREFIX, "--stale-before", "now", "--json"));
    expect(none.items).toEqual([]);
    const later = parsed<UploadList>(await ingest("list", "--prefix", PREFIX, "--created-after", inAnHour, "--json"));
    expect(later.items).toEqual([]);
  });

  it("follows the cursors with --all, giving every item once, in the order of one big page", async () => {
    const whole = parsed<UploadList>(await ingest("list", "--prefix", PREFIX, "--order", "oldest", "--json"));
    const all = parsed<UploadListItem[]>(
      await ingest("list", "--prefix", PREFIX, "--order", "oldest", "--limit", "2", "--all", "--json"),
    );
    expect(all.map((item) => item.uploadId)).toEqual(whole.items.map((item) => item.uploadId));
    expect(all).toHaveLength(Object.keys(made).length);

    // Without --all, one page and the cursor that carries on from it.
    const first = parsed<UploadList>(
      await ingest("list", "--prefix", PREFIX, "--order", "oldest", "--limit", "2", "--json"),
    );
    expect(first.items).toEqual(all.slice(0, 2));
    const second = parsed<UploadList>(
      await ingest(
        "list",
        "--prefix",
        PREFIX,
        "--order",
        "oldest",
        "--limit",
        "2",
        "--cursor",
        String(first.nextCursor),
        "--json",
      ),
    );
    expect(second.items).toEqual(all.slice(2, 4));
  });

  it("prints tab-separated rows when stdout is not a terminal, and says on stderr how to get more", async () => {
    const run = await ingest("list", "--prefix", `${PREFIX}open/`, "--order", "expiring", "--limit", "1");
    expect(run.code).toBe(0);
    const lines = run.stdout.toString().split("\n");
    expect(lines[0]).toBe("ID\tSTATE\tKEY\tBYTES\tPARTS\tAGE\tEXPIRES IN");
    expect(lines[1]?.split("\t")).toEqual([
      made["open/soon.bin"],
      "open",
      `${PREFIX}open/soon.bin`,
      "0 B",
      "0/2",
      expect.stringMatching(/^\d+s$/),
      expect.stringMatching(/^\d+m$/),
    ]);
    expect(lines.slice(2)).toEqual([""]);
    expect(run.stderr).toMatch(/^More uploads: add --cursor=\S+ for the next page, or --all for every page\.\n$/);
  });

  // util-linux `script` (part of every Debian system) gives the CLI a real terminal.
  it("lays out a table on a terminal", async () => {
    const run = await onTerminal(["list", "--prefix", `${PREFIX}done/`, "--order", "oldest"]);
    expect(run.code).toBe(0);
    const lines = run.stdout.split(/\r?\n/);
    expect(lines[0]).toMatch(/^ID {22}STATE {6}KEY +BYTES {2}PARTS +AGE {2}EXPIRES IN$/);
    expect(lines[1]).toMatch(
      new RegExp(`^${made["done/a.bin"]}  completed  ${PREFIX}done/a\\.bin +10 B +1/1 +\\d+s +-$`),
    );
    expect(lines[2]).toContain(`completed  ${PREFIX}done/b.bin`);
    const empty = await onTerminal(["list", "--prefix", `${PREFIX}nothing/`]);
    expect(empty.stdout).toBe("No uploads match.\r\n");
  });

  it("refuses bad flags before asking the server, and list flags on other commands", async () => {
    const runs = await Promise.all([
      ingest("list", "--state", "opened"),
      ingest("list", "--limit", "500"),
      ingest("list", "--created-after", "yesterday"),
      ingest("status", "some-id", "--prefix", "a/"),
      ingest("upload", "-", "--key", "k", "--state", "a.json", "--state", "b.json"),
      ingest("list", "extra"),
    ]);
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(runs.map((run) => run.stderr.trim())).toEqual([
      "ingest: --state: expected open, completing, completed, aborted, failed, not opened",
      "ingest: --limit: expected a whole number from 1 to 200, not 500",
      expect.stringMatching(/^ingest: --created-after: expected an ISO 8601 time/),
      "ingest: --prefix only applies to list",
      "ingest: --state: give it once",
      expect.stringMatching(/^ingest: usage: ingest list \[--state S\]/),
    ]);
  });
});

describe("ingest --help", () => {
  it("names list and summary and every list flag", async () => {
    const help = (await ingest("--help")).stdout.toString();
    for (const word of [
      "list ",
      "summary ",
      "--prefix",
      "--api",
      "--created-after",
      "--stale-before",
      "--order",
      "--limit",
      "--cursor",
      "--all",
    ]) {
      expect(help).toContain(word);
    }
  });
});

describe("ingest summary", () => {
  it("counts uploads by state, with the bytes in flight, what expires within the hour and what ended in the last day", async () => {
    // Other files' uploads count too: only what this file's uploads guarantee is asserted.
    const summary = parsed<UploadSummary>(await ingest("summary", "--json"));
    expect(summary.byState.open).toBeGreaterThanOrEqual(3);
    expect(summary.byState.completed).toBeGreaterThanOrEqual(2);
    expect(summary.byState.aborted).toBeGreaterThanOrEqual(1);
    expect(summary.expiringWithinHour).toBeGreaterThanOrEqual(1);
    expect(summary.oldestOpen).toMatchObject({ uploadId: expect.any(String), key: expect.any(String) });
    expect(Date.parse(summary.generatedAt)).toBeGreaterThan(Date.now() - 60_000);
    // What ended in the last 24 hours, from D1 (these Workers run without Analytics Engine data).
    expect(summary.recent.completed).toBeGreaterThanOrEqual(2);
    expect(summary.recent.aborted).toBeGreaterThanOrEqual(1);
    expect(summary.recent.completionLatencyMs?.sample).toBeGreaterThanOrEqual(2);

    const text = await ingest("summary");
    expect(text.code).toBe(0);
    expect(text.stdout.toString()).toMatch(
      /^open +\d+\ncompleting +\d+\ncompleted +\d+\naborted +\d+\nfailed +\d+\n\nIn flight/,
    );
    expect(text.stdout.toString()).toMatch(/^Oldest open [A-Za-z0-9_-]{22} \S+ \(\d+\w+ old\)$/m);
    expect(text.stdout.toString()).toMatch(/^Last 24 h +\d+ completed \(.+\), \d+ failed, \d+ aborted$/m);
    expect(text.stdout.toString()).toMatch(/^Latency +last part -> completed p50 \d+ ms, p95 \d+ ms \(newest \d+\)$/m);
  });
});

/**
 * Runs the CLI with stdout on a pseudo-terminal 200 columns wide (util-linux `script`), as at a
 * shell. The terminal turns each "\n" into "\r\n".
 */
async function onTerminal(args: string[]): Promise<{ code: number; stdout: string }> {
  const command = ["stty", "cols", "200", "&&", "exec", ...[process.execPath, CLI, ...args].map(shellWord)].join(" ");
  try {
    const { stdout } = await run("script", ["-qefc", command, "/dev/null"], {
      cwd: dir,
      env: { ...process.env, ...env() },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}
