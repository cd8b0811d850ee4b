import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliRun, json, runCli } from "./cli-helpers.js";
import { endpoint, fetchObject, PART, sha256, tempFile, token, uniqueKey } from "./helpers.js";

const env = () => ({ INGEST_ENDPOINT: endpoint(), INGEST_TOKEN: token() });
/** Upload ids: 16 random bytes as 22 base64url characters. */
const SHORT_ID = /^[A-Za-z0-9_-]{22}$/;

describe("ingest CLI", () => {
  it("uploads a file with --json, then reports status and downloads it byte-exact", async () => {
    const { path, bytes, dir } = await tempFile(2 * PART + 4_096, "movie.bin");
    const key = uniqueKey("cli.bin");
    const uploaded = await runCli(["upload", path, "--key", key, "--part-size", "5MiB", "--wait", "--json"], {
      cwd: dir,
      env: env(),
    });
    expect(uploaded.stderr).toBe("");
    expect(uploaded.code).toBe(0);
    const summary = json(uploaded);
    expect(summary).toMatchObject({
      key,
      size: bytes.length,
      parts: 3,
      partsSent: 3,
      state: "completed",
      object: { size: bytes.length },
    });
    expect(summary.uploadId).toMatch(SHORT_ID);
    expect(existsSync(`${path}.ingest.json`)).toBe(false);

    const status = await runCli(["status", String(summary.uploadId), "--json"], { cwd: dir, env: env() });
    expect(status.code).toBe(0);
    expect(json(status)).toMatchObject({ uploadId: summary.uploadId, state: "completed", missingParts: [] });

    const saved = await runCli(["download", key, "copy.bin"], { cwd: dir, env: env() });
    expect(saved.code).toBe(0);
    expect(saved.stdout.toString()).toMatch(/^Downloaded .* to copy\.bin/);
    expect(sha256(await readFile(join(dir, "copy.bin")))).toBe(sha256(bytes));

    const piped = await runCli(["download", key, "-"], { cwd: dir, env: env() });
    expect(piped.code).toBe(0);
    expect(sha256(piped.stdout)).toBe(sha256(bytes));
  });

  it("uploads stdin with '-' and prints progress lines and a summary when not on a terminal", async () => {
    const { bytes, dir } = await tempFile(PART + 65_537);
    const key = uniqueKey("stdin.bin");
    const run = await runCli(["upload", "-", "--key", key, "--part-size", "5242880", "--wait"], {
      cwd: dir,
      env: env(),
      input: bytes,
    });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toMatch(new RegExp(`^Uploaded stdin to ${key}: 5\\.1 MiB in 2 parts`));
    expect(run.stdout.toString()).toContain("completed");
    // The id fits on its line, ready to paste into `ingest status`.
    expect(run.stdout.toString()).toMatch(/^Upload [A-Za-z0-9_-]{22}: completed/m);
    expect(run.stderr).toMatch(/stdin: (uploading|completing|waiting|done) .*acknowledged/);
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("exits 1 with a readable message, or JSON, when the server refuses", async () => {
    const { dir } = await tempFile(1);
    const text = await runCli(["status", "no-such-upload"], { cwd: dir, env: env() });
    expect(text.code).toBe(1);
    expect(text.stderr).toBe("ingest: status: no upload with id no-such-upload (HTTP 404)\n");

    const structured = await runCli(["status", "no-such-upload", "--json"], { cwd: dir, env: env() });
    expect(structured.code).toBe(1);
    expect(json(structured)).toEqual({
      error: { code: "upload_not_found", message: expect.stringContaining("no upload"), status: 404 },
    });

    const anonymous = await runCli(["status", "no-such-upload"], { cwd: dir, env: { INGEST_ENDPOINT: endpoint() } });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(
      /HTTP 401\)\n\(this server wants an API key: pass --token or set INGEST_TOKEN\)\n$/,
    );

    const missing = await runCli(["upload", join(dir, "nope.bin")], { cwd: dir, env: env() });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ingest: cannot read .*nope\.bin/);
  });

  it("takes an upload id that begins with '-' as an id, not as an option", async () => {
    const { path, dir } = await tempFile(1);
    const id = "-q3Zk0pX9-c1vT7wYbLm2A";
    const runs = await Promise.all([
      runCli(["status", id], { cwd: dir, env: env() }),
      runCli(["abort", id, "--json"], { cwd: dir, env: env() }),
      runCli(["upload", path, "--resume", id], { cwd: dir, env: env() }),
    ]);
    expect(runs.map((run) => run.code)).toEqual([1, 1, 1]);
    expect(runs[0]?.stderr).toBe(`ingest: status: no upload with id ${id} (HTTP 404)\n`);
    expect(json(runs[1] as CliRun)).toMatchObject({ error: { code: "upload_not_found", status: 404 } });
    expect(runs[2]?.stderr).toContain(`no upload with id ${id}`);
  });

  it("exits 2 on bad usage", async () => {
    const { dir } = await tempFile(1);
    const runs = await Promise.all([
      runCli(["upload", "-"], { cwd: dir, env: env() }),
      runCli(["upload", "a", "--bogus"], { cwd: dir, env: env() }),
      runCli(["status"], { cwd: dir, env: env() }),
      runCli(["upload", "a", "--part-size", "lots"], { cwd: dir, env: env() }),
      runCli(["frobnicate"], { cwd: dir, env: env() }),
    ]);
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2, 2]);
    expect(runs[0]?.stderr).toContain("--key is required when uploading stdin");
  });

  it("aborts an upload, and refuses to abort it once it is completed", async () => {
    const { dir } = await tempFile(1);
    const created = await fetch(new URL("uploads", endpoint()), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token()}` },
      body: JSON.stringify({ key: uniqueKey("to-abort.bin"), parts: 2, partSize: PART }),
    });
    const { uploadId } = (await created.json()) as { uploadId: string };
    const aborted = await runCli(["abort", uploadId, "--json"], { cwd: dir, env: env() });
    expect(aborted.code).toBe(0);
    expect(json(aborted)).toMatchObject({ uploadId, state: "aborted", abortReason: "client" });

    const done = await runCli(["upload", "-", "--key", uniqueKey("done.bin"), "--wait", "--json"], {
      cwd: dir,
      env: env(),
      input: Buffer.from("x"),
    });
    const refused = await runCli(["abort", String(json(done).uploadId)], { cwd: dir, env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/completed and can no longer be aborted/);
  });

  it("documents the endpoint and token variables in --help", async () => {
    const { dir } = await tempFile(1);
    const help = await runCli(["--help"], { cwd: dir });
    expect(help.code).toBe(0);
    for (const word of [
      "upload <file|->",
      "status <uploadId>",
      "abort <uploadId>",
      "download <key>",
      "INGEST_ENDPOINT",
      "INGEST_TOKEN",
      "--resume",
      "--json",
    ]) {
      expect(help.stdout.toString()).toContain(word);
    }
  });
});
