// `ingest dead-letters list|replay|discard` as operators run it, against both real Workers whose
// queue gives up quickly (its own pair: the shared one retries for hours before a message dies).
// Two webhook deliveries die for real; the CLI lists them, replays one, discards the other.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { DeadLetter, DeadLetterList, DeadLetterReplay } from "../../client/src/contract.js";
import { DEV_KEY, type DeadLetterHarness, startDeadLetterHarness } from "../e2e/dead-letter-harness.js";
import { type CliRun, runCli } from "./cli-helpers.js";

let harness: DeadLetterHarness;
let dir: string;
const uploads: string[] = [];

const ingest = (...args: string[]) =>
  runCli(args, { cwd: dir, env: { INGEST_ENDPOINT: harness.url.href, INGEST_TOKEN: DEV_KEY } });
const parsed = <T>(run: CliRun): T => {
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout.toString()) as T;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ingest-dead-letters-"));
  harness = await startDeadLetterHarness({ maxRetries: 1 });
  for (const name of ["a.bin", "b.bin"]) uploads.push(await harness.abortedUpload(`cli-dead/${name}`));
  await vi.waitFor(
    async () => {
      const { body } = await harness.api<DeadLetterList>("/dead-letters");
      expect(body.items).toHaveLength(2);
    },
    { timeout: 30_000, interval: 100 },
  );
});

afterAll(async () => {
  await harness.close();
  await rm(dir, { recursive: true, force: true });
});

const byUpload = (items: readonly DeadLetter[], uploadId: string) =>
  items.find((item) => item.uploadId === uploadId) as DeadLetter;

describe("ingest dead-letters", () => {
  it("lists dead letters as tab-separated rows in a pipe, and as the page in JSON", async () => {
    const tsv = await ingest("dead-letters", "list");
    expect(tsv.code).toBe(0);
    const [header, ...rows] = tsv.stdout.toString().trimEnd().split("\n");
    expect(header).toBe("ID\tSTATE\tTYPE\tKEY\tSEEN\tAGE");
    expect(rows.map((row) => row.split("\t").slice(1, 5)).sort()).toEqual([
      ["dead", "webhook.deliver", "cli-dead/a.bin", "1"],
      ["dead", "webhook.deliver", "cli-dead/b.bin", "1"],
    ]);

    const page = parsed<DeadLetterList>(await ingest("dead-letters", "list", "--state", "dead", "--json"));
    expect(page.nextCursor).toBeNull();
    expect(new Set(page.items.map((item) => item.uploadId))).toEqual(new Set(uploads));

    // One per page: the cursor hint goes to stderr; --all follows it.
    const first = await ingest("dead-letters", "list", "--limit", "1");
    expect(first.stdout.toString().trimEnd().split("\n")).toHaveLength(2);
    expect(first.stderr).toMatch(/^More dead letters: add --cursor=\S+ for the next page/);
    const all = parsed<DeadLetter[]>(await ingest("dead-letters", "list", "--limit", "1", "--all", "--json"));
    expect(all).toHaveLength(2);
  });

  it("replays a dead letter once and the webhook gets it; again it reports and sends nothing", async () => {
    const page = parsed<DeadLetterList>(await ingest("dead-letters", "list", "--json"));
    const dead = byUpload(page.items, uploads[0] as string);
    harness.receiver.state.status = 204;

    const replayed = await ingest("dead-letters", "replay", dead.id);
    expect(replayed.code).toBe(0);
    expect(replayed.stdout.toString()).toBe(`Replayed ${dead.id} (webhook.deliver cli-dead/a.bin).\n`);
    await vi.waitFor(
      () => expect(harness.receiver.deliveries.filter((delivery) => delivery.status === 204)).toHaveLength(1),
      { timeout: 30_000, interval: 100 },
    );

    const again = parsed<DeadLetterReplay>(await ingest("dead-letters", "replay", dead.id, "--json"));
    expect(again).toMatchObject({ outcome: "already_replayed", deadLetter: { id: dead.id, state: "replayed" } });
    const text = await ingest("dead-letters", "replay", dead.id);
    expect(text.stdout.toString()).toMatch(new RegExp(`^Already replayed ${dead.id} at \\S+: not sent again\\.\\n$`));
  });

  it("discards a dead letter, which then cannot be replayed", async () => {
    const page = parsed<DeadLetterList>(await ingest("dead-letters", "list", "--state", "dead", "--json"));
    const dead = byUpload(page.items, uploads[1] as string);
    const discarded = await ingest("dead-letters", "discard", dead.id);
    expect(discarded.stdout.toString()).toBe(`Discarded ${dead.id}.\n`);
    expect(parsed<DeadLetterList>(await ingest("dead-letters", "list", "--state", "dead", "--json")).items).toEqual([]);

    const refused = await ingest("dead-letters", "replay", dead.id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the dead letter is discarded and cannot be replayed \(HTTP 409\)/);
    const missing = await ingest("dead-letters", "discard", "no-such-letter", "--json");
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout.toString())).toMatchObject({
      error: { code: "dead_letter_not_found", status: 404 },
    });
  });

  it("refuses bad usage before asking the server", async () => {
    const runs = await Promise.all([
      ingest("dead-letters"),
      ingest("dead-letters", "purge"),
      ingest("dead-letters", "replay"),
      ingest("dead-letters", "list", "--state", "gone"),
      ingest("dead-letters", "list", "--limit", "0"),
      ingest("dead-letters", "replay", "some-id", "--all"),
      ingest("status", "some-id", "--cursor", "c"),
      ingest("abort", "some-id", "--state", "dead"),
    ]);
    expect(runs.map((run) => run.code)).toEqual([2, 2, 2, 2, 2, 2, 2, 2]);
    expect(runs.map((run) => run.stderr.trim())).toEqual([
      expect.stringMatching(/^ingest: usage: ingest dead-letters list/),
      expect.stringMatching(/^ingest: usage: ingest dead-letters list/),
      expect.stringMatching(/^ingest: usage: ingest dead-letters list/),
      "ingest: --state: expected dead, replaying, replayed, discarded, not gone",
      "ingest: --limit: expected a whole number from 1 to 200, not 0",
      "ingest: --all only applies to dead-letters list",
      "ingest: --cursor only applies to list and dead-letters",
      "ingest: --state only applies to upload, list and dead-letters",
    ]);
  });

  it("is in --help, with its three actions", async () => {
    const help = (await ingest("--help")).stdout.toString();
    for (const word of ["dead-letters list", "dead-letters replay <id>", "dead-letters discard <id>"]) {
      expect(help).toContain(word);
    }
  });
});
