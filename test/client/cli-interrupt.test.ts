import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startCli } from "./cli-helpers.js";
import { type FaultProxy, partOf, startFaultProxy } from "./fault-proxy.js";
import { endpoint, fetchObject, PART, sha256, tempFile, token, uniqueKey } from "./helpers.js";

let proxy: FaultProxy;
let release: () => void = () => undefined;
let held = false;

beforeAll(async () => {
  const gate = new Promise<void>((resolve) => (release = resolve));
  // The first PUT of part 3 hangs until released: the CLI is reliably mid-upload when Ctrl-C comes.
  proxy = await startFaultProxy(endpoint(), (method, path) => {
    if (partOf(method, path) !== 3 || held) return { kind: "pass" };
    held = true;
    return { kind: "hold", until: gate };
  });
});

afterAll(async () => {
  release();
  await proxy.close();
});

describe("Ctrl-C during an upload", () => {
  it("exits 130, keeps a state file, prints the command that resumes it, and that command finishes the upload", async () => {
    const { bytes, dir } = await tempFile(3 * PART + 2_000, "big.bin");
    const key = uniqueKey("interrupted.bin");
    const run = startCli(["upload", "big.bin", "--key", key, "--part-size", "5MiB", "--concurrency", "1"], {
      cwd: dir,
      env: { INGEST_ENDPOINT: proxy.url, INGEST_TOKEN: token() },
    });
    await expect
      .poll(() => proxy.seen.some(({ method, path: p }) => partOf(method, p) === 3), { timeout: 20_000 })
      .toBe(true);
    run.child.kill("SIGINT");
    const interrupted = await run.result;

    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain("the upload was interrupted");
    expect(interrupted.stderr).toContain("2 of 4 parts are in. Resume with:");
    const command = /^ {2}(node \S+ upload big\.bin --resume big\.bin\.ingest\.json)$/m.exec(interrupted.stderr)?.[1];
    expect(command).toBeDefined();
    const state = JSON.parse(await readFile(join(dir, "big.bin.ingest.json"), "utf8")) as {
      endpoint: string;
      upload: { acknowledged: string[] };
    };
    expect(state).toMatchObject({ endpoint: proxy.url, upload: { key, acknowledged: ["1-2"] } });

    release();
    const before = proxy.seen.length;
    const args = (command as string).split(" ").slice(2);
    const resumed = await runCli([...args, "--wait", "--json"], { cwd: dir, env: { INGEST_TOKEN: token() } });
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout.toString())).toMatchObject({
      key,
      resumed: true,
      partsSent: 2,
      partsSkipped: 2,
      state: "completed",
    });
    // Saved endpoint reused; only parts 3 and 4 went out again.
    const puts = proxy.seen.slice(before).flatMap(({ method, path: p }) => partOf(method, p) ?? []);
    expect(puts.sort()).toEqual([3, 4]);
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
    await expect(readFile(join(dir, "big.bin.ingest.json"))).rejects.toThrow(/ENOENT/);
  });

  it("stops an upload from stdin that is waiting for more input, and resumes it from the same bytes", async () => {
    const { bytes, dir } = await tempFile(2 * PART + 1_000);
    const key = uniqueKey("stdin-interrupted.bin");
    // One full part and a byte more: part 1 goes out, then the CLI waits on a pipe that stays open.
    const run = startCli(["upload", "-", "--key", key, "--part-size", "5MiB"], {
      cwd: dir,
      env: { INGEST_ENDPOINT: endpoint(), INGEST_TOKEN: token() },
      input: bytes.subarray(0, PART + 1),
      keepStdinOpen: true,
    });
    const stateFile = join(dir, `${key.replace(/[^\w.-]+/g, "_")}.ingest.json`);
    const acknowledged = async () =>
      (JSON.parse(await readFile(stateFile, "utf8")) as { upload: { acknowledged: string[] } }).upload.acknowledged;
    await expect.poll(() => acknowledged().catch(() => []), { timeout: 20_000 }).toEqual(["1"]);
    run.child.kill("SIGINT");
    const interrupted = await run.result;

    expect(interrupted.code).toBe(130);
    const command = /^ {2}<same data> \| node \S+ (upload - --resume \S+)$/m.exec(interrupted.stderr)?.[1];
    expect(command).toBeDefined();
    const resumed = await runCli([...(command as string).split(" "), "--wait", "--json"], {
      cwd: dir,
      input: bytes,
      env: { INGEST_TOKEN: token() },
    });
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout.toString())).toMatchObject({
      key,
      partsSent: 2,
      partsSkipped: 1,
      parts: 3,
      state: "completed",
    });
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });
});
