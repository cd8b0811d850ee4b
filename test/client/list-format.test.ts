// How `ingest list` and `ingest summary` read their flags and lay out what the server answers,
// and what `listUploads` puts on the wire: no server needed (list.test.ts runs them against one).
import { describe, expect, it } from "vitest";
import { type ListFlags, listQueryOf } from "../../client/src/cli/list-command.js";
import { formatAge, formatExpiry, formatSummary, formatTable, formatTsv } from "../../client/src/cli/list-format.js";
import type { UploadListItem } from "../../client/src/contract.js";
import { createTransport } from "../../client/src/http.js";
import { getUploadSummary, listQuery, listUploads } from "../../client/src/listing.js";

const NOW = Date.parse("2026-01-31T12:00:00Z");
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const MIN = 60_000;

const item = (fields: Partial<UploadListItem>): UploadListItem => ({
  uploadId: "q3Zk0pX9-c1vT7wYbLm2Aw",
  key: "videos/cat.mp4",
  api: "native",
  mode: "parts",
  state: "open",
  partSize: 8 * 1024 * 1024,
  expectedParts: 3,
  receivedParts: 1,
  bytesReceived: 8 * 1024 * 1024,
  size: null,
  createdAt: ago(5 * MIN),
  updatedAt: ago(MIN),
  lastActivityAt: ago(MIN),
  expiresAt: new Date(NOW + 90 * MIN).toISOString(),
  completedAt: null,
  reason: null,
  ...fields,
});

const open = item({});
const done = item({
  uploadId: "Zz9kQ1pX9-c1vT7wYbLm2A",
  key: "backups/2026/01/photos.tar",
  state: "completed",
  expectedParts: null,
  receivedParts: 2,
  bytesReceived: 12_000_000,
  size: 12_000_000,
  createdAt: ago(26 * 60 * MIN),
  expiresAt: null,
});

const flags = (fields: Partial<ListFlags>): ListFlags => ({
  state: [],
  prefix: undefined,
  api: undefined,
  createdAfter: undefined,
  staleBefore: undefined,
  order: undefined,
  limit: undefined,
  cursor: undefined,
  all: false,
  ...fields,
});

describe("ingest list output", () => {
  it("tells ages and time left to the precision a glance needs", () => {
    expect([0, 45_000, 12 * MIN, 185 * MIN, 50 * 60 * MIN].map(formatAge)).toEqual([
      "0s",
      "45s",
      "12m",
      "3h05m",
      "2d02h",
    ]);
    expect(formatExpiry(null, NOW)).toBe("-");
    expect(formatExpiry(new Date(NOW + 30 * MIN).toISOString(), NOW)).toBe("30m");
    expect(formatExpiry(ago(7 * MIN), NOW)).toBe("overdue 7m");
  });

  it("lays out a table with the object's size once completed, else the bytes received", () => {
    expect(formatTable([open, done], NOW)).toBe(
      [
        "ID                      STATE      KEY                            BYTES  PARTS    AGE  EXPIRES IN",
        "q3Zk0pX9-c1vT7wYbLm2Aw  open       videos/cat.mp4               8.0 MiB    1/3     5m       1h30m",
        "Zz9kQ1pX9-c1vT7wYbLm2A  completed  backups/2026/01/photos.tar  11.4 MiB    2/?  1d02h           -",
        "",
      ].join("\n"),
    );
    expect(formatTable([], NOW)).toBe("No uploads match.\n");
  });

  it("cuts the start of long keys rather than wrap on a narrow terminal", () => {
    const long = item({ key: `deep/${"nested/".repeat(20)}file.bin` });
    const lines = formatTable([long, open], NOW, 100).trimEnd().split("\n");
    expect(lines.every((line) => line.length < 100)).toBe(true);
    expect(lines[1]).toMatch(/ …[a-z/]*nested\/file\.bin /);
    expect(lines[2]).toContain(" videos/cat.mp4 ");
  });

  it("prints tab-separated rows under a header for pipes, a key's tabs and newlines escaped", () => {
    const odd = item({ key: "a\tb\nc" });
    expect(formatTsv([open, odd], NOW).split("\n")).toEqual([
      "ID\tSTATE\tKEY\tBYTES\tPARTS\tAGE\tEXPIRES IN",
      "q3Zk0pX9-c1vT7wYbLm2Aw\topen\tvideos/cat.mp4\t8.0 MiB\t1/3\t5m\t1h30m",
      "q3Zk0pX9-c1vT7wYbLm2Aw\topen\ta\\tb\\nc\t8.0 MiB\t1/3\t5m\t1h30m",
      "",
    ]);
  });

  it("sums up counts by state, bytes in flight, what expires soon, the oldest open upload and the last day", () => {
    const summary = {
      byState: { open: 3, completing: 0, completed: 120, aborted: 2, failed: 1 },
      bytesInFlight: 25 * 1024 * 1024,
      oldestOpen: { uploadId: open.uploadId, key: open.key, createdAt: ago(185 * MIN) },
      expiringWithinHour: 1,
      recent: {
        since: ago(24 * 60 * MIN),
        completed: 40,
        failed: 1,
        aborted: 2,
        bytesCompleted: 3 * 1024 * 1024 * 1024,
        completionLatencyMs: { p50: 41, p95: 180, sample: 40 },
      },
      generatedAt: new Date(NOW).toISOString(),
    };
    expect(formatSummary(summary, NOW)).toBe(
      [
        "open          3",
        "completing    0",
        "completed   120",
        "aborted       2",
        "failed        1",
        "",
        "In flight   25.0 MiB in parts of open and completing uploads",
        "Expiring    1 open upload within the hour",
        `Oldest open ${open.uploadId} videos/cat.mp4 (3h05m old)`,
        "Last 24 h   40 completed (3.0 GiB), 1 failed, 2 aborted",
        "Latency     last part -> completed p50 41 ms, p95 180 ms (newest 40)",
        "",
      ].join("\n"),
    );
    const quiet = { ...summary.recent, completed: 0, bytesCompleted: 0, completionLatencyMs: null };
    expect(formatSummary({ ...summary, oldestOpen: null, expiringWithinHour: 0, recent: quiet }, NOW)).toMatch(
      /Expiring {4}0 open uploads within the hour\nOldest open none\nLast 24 h {3}0 completed \(0 B\), 1 failed, 2 aborted\nLatency {5}no completions\n$/,
    );
  });
});

describe("ingest list flags", () => {
  it("takes --state repeated or as a comma list, and times as ISO 8601 or now", () => {
    expect(
      listQueryOf(
        flags({
          state: ["open,failed", "open"],
          createdAfter: "2026-01-30T00:00:00+01:00",
          staleBefore: "now",
          limit: "2",
        }),
        NOW,
      ),
    ).toEqual({
      state: ["open", "failed"],
      prefix: undefined,
      api: undefined,
      createdAfter: "2026-01-29T23:00:00.000Z",
      staleBefore: "2026-01-31T12:00:00.000Z",
      order: undefined,
      limit: 2,
      cursor: undefined,
    });
  });

  it("refuses values the server would refuse, naming the flag", () => {
    for (const [bad, message] of [
      [{ state: ["opened"] }, /^--state: expected open, completing, completed, aborted, failed, not opened$/],
      [{ api: "s3" }, /^--api: expected native, compat, tus, stream, not s3$/],
      [{ order: "largest" }, /^--order: /],
      [{ limit: "0" }, /^--limit: expected a whole number from 1 to 200/],
      [{ limit: "201" }, /^--limit: /],
      [{ createdAfter: "yesterday" }, /^--created-after: expected an ISO 8601 time/],
      [{ staleBefore: "2026-13-45" }, /^--stale-before: /],
    ] as const) {
      expect(() => listQueryOf(flags(bad), NOW)).toThrow(message);
    }
  });
});

describe("listUploads and getUploadSummary", () => {
  const answering = (body: unknown) => {
    const urls: string[] = [];
    const transport = createTransport({
      endpoint: "http://api.test/base",
      fetch: async (input) => {
        urls.push(String(input));
        return Response.json(body);
      },
    });
    return { urls, transport };
  };

  it("sends several states as repeated parameters and dates as ISO 8601", async () => {
    expect(listQuery({}).toString()).toBe("");
    const { urls, transport } = answering({ items: [open], nextCursor: "abc" });
    const page = await listUploads(transport, {
      state: ["open", "failed"],
      prefix: "videos/",
      createdAfter: new Date(NOW),
      order: "oldest",
      limit: 2,
      cursor: "c/1",
    });
    expect(page).toEqual({ items: [open], nextCursor: "abc" });
    expect(urls).toEqual([
      "http://api.test/base/uploads?state=open&state=failed&prefix=videos%2F&createdAfter=2026-01-31T12%3A00%3A00.000Z&order=oldest&limit=2&cursor=c%2F1",
    ]);
  });

  it("fails clearly when the endpoint answers something else", async () => {
    await expect(listUploads(answering({ uploads: [] }).transport)).rejects.toMatchObject({ code: "bad_response" });
    await expect(getUploadSummary(answering({ items: [] }).transport)).rejects.toThrow(
      "summary: the server's answer is not a summary",
    );
  });
});
