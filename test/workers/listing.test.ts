import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UploadListItem, UploadSummary } from "../../shared/listing-schemas";
import { bytes, DEV_KEY, PART, Pipeline } from "./helpers";
import { Tus } from "./tus-helpers";

/** Two keys: one that sees everything, one limited to "a/". */
const A_ONLY_KEY = "key-for-a-only-0123456789abcdef";
const API_KEYS = JSON.stringify([
  { id: "ops", key: DEV_KEY },
  { id: "a-only", key: A_ONLY_KEY, prefix: "a/" },
]);

type Page = { items: UploadListItem[]; nextCursor: string | null };

const pipeline = new Pipeline({ producerVars: { API_KEYS } });

async function list(query = "", credential = DEV_KEY): Promise<Page> {
  const response = await pipeline.json<Page>(`/uploads${query === "" ? "" : `?${query}`}`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

const keys = (page: Page) => page.items.map((item) => item.key).sort();

/**
 * One upload of each kind, made through the front doors and taken to each state, once per file
 * (storage is shared by the tests of a file). Keys under "a/" and "b/".
 */
type Fixture = Record<
  "open" | "completed" | "aborted" | "failed" | "stream" | "compat" | "tus" | "soon",
  UploadListItem & { token: string | null }
>;
let made: Promise<Fixture> | null = null;
function fixture(): Promise<Fixture> {
  made ??= (async () => {
    const ids: Record<string, { id: string; token: string | null }> = {};
    const create = async (name: string, body: Record<string, unknown>) => {
      const created = await pipeline.create(body);
      ids[name] = { id: created.uploadId, token: (created as { uploadToken?: string | null }).uploadToken ?? null };
      return created.uploadId;
    };
    // Open, one 5 MiB part of two in: those bytes are in flight.
    await pipeline.putPart(await create("open", { key: "a/open.bin", parts: 2, partSize: PART }), 1, bytes(PART, 1));
    await pipeline.putPart(await create("completed", { key: "a/done.bin", parts: 1 }), 1, bytes(100, 2));
    await pipeline.fetch(`/uploads/${await create("aborted", { key: "b/aborted.bin" })}`, { method: "DELETE" });
    const failed = await create("failed", { key: "b/failed.bin", parts: 1, sha256: "0".repeat(64) });
    await pipeline.putPart(failed, 1, bytes(10, 3));
    await pipeline.settle();
    await create("stream", { key: "b/stream.log", mode: "stream" });
    await create("soon", { key: "a/soon.bin", staleAfterSeconds: 60 });
    const compat = await pipeline.json<{ uploadId: string }>("/a/compat.bin?action=mpu-create", { method: "POST" });
    ids.compat = { id: compat.body.uploadId, token: null };
    const tus = new Tus(pipeline);
    ids.tus = { id: (await tus.open({ length: 10, metadata: { key: "b/tus.bin" } })).id, token: null };
    // A tus partial upload: its bytes are staged under .ingest-staging/, never listed.
    await tus.open({ length: 10, headers: { "upload-concat": "partial" } });

    const all = await list("limit=200");
    const out: Partial<Fixture> = {};
    for (const [name, { id, token }] of Object.entries(ids)) {
      const item = all.items.find((candidate) => candidate.uploadId === id);
      expect(item, name).toBeDefined();
      out[name as keyof Fixture] = { ...(item as UploadListItem), token };
    }
    return out as Fixture;
  })();
  return made;
}

describe("GET /uploads", () => {
  it("lists every upload of every front door, newest first, with its compact status", async () => {
    const f = await fixture();
    const page = await list();
    expect(keys(page)).toEqual(
      [
        "a/compat.bin",
        "a/done.bin",
        "a/open.bin",
        "a/soon.bin",
        "b/aborted.bin",
        "b/failed.bin",
        "b/stream.log",
        "b/tus.bin",
      ].sort(),
    );
    const order = page.items.map((item) => [item.createdAt, item.uploadId].join(" "));
    expect(order).toEqual([...order].sort().reverse());
    expect(page.nextCursor).toBeNull();
    expect(f.open).toMatchObject({
      state: "open",
      api: "native",
      mode: "parts",
      receivedParts: 1,
      bytesReceived: PART,
    });
    expect(f.open.expectedParts).toBe(2);
    expect(f.open.expiresAt).not.toBeNull();
    expect(f.completed).toMatchObject({ state: "completed", size: 100, expiresAt: null, reason: null });
    expect(f.completed.completedAt).not.toBeNull();
    expect(f.aborted).toMatchObject({ state: "aborted", reason: "client", expiresAt: null });
    expect(f.failed.state).toBe("failed");
    expect(f.failed.reason).toMatch(/SHA-256/);
    expect(f.stream).toMatchObject({ api: "native", mode: "stream" });
    expect(f.compat).toMatchObject({ api: "compat", mode: "parts" });
    expect(f.tus).toMatchObject({ api: "tus", mode: "parts" });
  });

  it("never lists staged keys, even when asked for their prefix", async () => {
    await fixture();
    const staged = await env.DB.prepare(
      "SELECT count(*) AS n FROM uploads WHERE object_key LIKE '.ingest-staging/%'",
    ).first<{ n: number }>();
    expect(staged?.n).toBe(1);
    expect((await list("limit=200")).items.some((item) => item.key.startsWith(".ingest-staging/"))).toBe(false);
    expect((await list("prefix=.ingest-staging/")).items).toEqual([]);
  });

  it("filters by one state or several, repeated or comma-separated", async () => {
    await fixture();
    expect(keys(await list("state=completed"))).toEqual(["a/done.bin"]);
    expect(keys(await list("state=failed"))).toEqual(["b/failed.bin"]);
    expect(keys(await list("state=aborted"))).toEqual(["b/aborted.bin"]);
    expect(keys(await list("state=completing"))).toEqual([]);
    const open = ["a/compat.bin", "a/open.bin", "a/soon.bin", "b/stream.log", "b/tus.bin"];
    expect(keys(await list("state=open"))).toEqual(open);
    expect(keys(await list("state=failed&state=aborted"))).toEqual(["b/aborted.bin", "b/failed.bin"]);
    expect(keys(await list("state=failed,aborted,failed"))).toEqual(["b/aborted.bin", "b/failed.bin"]);
  });

  it("filters by the API an upload came through", async () => {
    await fixture();
    expect(keys(await list("api=native"))).toEqual([
      "a/done.bin",
      "a/open.bin",
      "a/soon.bin",
      "b/aborted.bin",
      "b/failed.bin",
    ]);
    expect(keys(await list("api=compat"))).toEqual(["a/compat.bin"]);
    expect(keys(await list("api=tus"))).toEqual(["b/tus.bin"]);
    expect(keys(await list("api=stream"))).toEqual(["b/stream.log"]);
  });

  it("filters by key prefix, creation time and expiry", async () => {
    const f = await fixture();
    expect(keys(await list("prefix=a/"))).toEqual(["a/compat.bin", "a/done.bin", "a/open.bin", "a/soon.bin"]);
    expect(keys(await list("prefix=a/s"))).toEqual(["a/soon.bin"]);
    expect(keys(await list("prefix=c/"))).toEqual([]);
    // The stream, the 60 s upload, compat and tus were created after the failed one settled.
    const later = await list(`createdAfter=${encodeURIComponent(f.failed.createdAt)}`);
    expect(keys(later)).toEqual(["a/compat.bin", "a/soon.bin", "b/stream.log", "b/tus.bin"]);
    const inTwoMinutes = new Date(Date.now() + 120_000).toISOString();
    expect(keys(await list(`staleBefore=${inTwoMinutes}`))).toEqual(["a/soon.bin"]);
    const tomorrow = new Date(Date.now() + 2 * 86_400_000).toISOString();
    expect(keys(await list(`staleBefore=${tomorrow}`))).toEqual(keys(await list("state=open")));
  });

  it("combines filters: each narrows the others", async () => {
    const f = await fixture();
    expect(keys(await list("state=open&prefix=a/&api=compat"))).toEqual(["a/compat.bin"]);
    expect(keys(await list("state=open,completed&prefix=a/&api=native"))).toEqual([
      "a/done.bin",
      "a/open.bin",
      "a/soon.bin",
    ]);
    expect(keys(await list("state=completed&api=tus"))).toEqual([]);
    const after = encodeURIComponent(f.failed.createdAt);
    expect(keys(await list(`prefix=b/&createdAfter=${after}&api=tus`))).toEqual(["b/tus.bin"]);
  });

  it("orders oldest first, or open uploads by soonest expiry", async () => {
    await fixture();
    const newest = (await list()).items.map((item) => item.uploadId);
    expect((await list("order=oldest")).items.map((item) => item.uploadId)).toEqual([...newest].reverse());
    const expiring = await list("order=expiring");
    expect(expiring.items[0]?.key).toBe("a/soon.bin");
    expect(expiring.items.every((item) => item.state === "open")).toBe(true);
    const expiries = expiring.items.map((item) => item.expiresAt as string);
    expect(expiries).toEqual([...expiries].sort());
    expect(keys(expiring)).toEqual(keys(await list("state=open")));
    expect((await list("order=expiring&state=completed")).items).toEqual([]);
  });

  it("shows a key limited to a prefix only the uploads under it, whatever it asks for", async () => {
    await fixture();
    expect(keys(await list("", A_ONLY_KEY))).toEqual(["a/compat.bin", "a/done.bin", "a/open.bin", "a/soon.bin"]);
    expect((await list("prefix=b/", A_ONLY_KEY)).items).toEqual([]);
    expect(keys(await list("prefix=a/o", A_ONLY_KEY))).toEqual(["a/open.bin"]);
    // A shorter prefix than its own still gives only its own.
    expect(keys(await list("prefix=a", A_ONLY_KEY))).toEqual(keys(await list("", A_ONLY_KEY)));
    expect(keys(await list("state=aborted,failed&api=native", A_ONLY_KEY))).toEqual([]);
  });

  it("refuses upload tokens (403): they grant one upload, not a list", async () => {
    const f = await fixture();
    expect(f.open.token).toEqual(expect.any(String));
    for (const path of ["/uploads", "/uploads/summary"]) {
      const response = await pipeline.json(path, { headers: { authorization: `Bearer ${f.open.token}` } });
      expect(response.status, path).toBe(403);
      expect(response.body).toMatchObject({ error: { code: "forbidden" } });
    }
    const anonymous = await pipeline.json("/uploads", { headers: { authorization: "" } });
    expect(anonymous.status).toBe(401);
  });

  it.each([
    ["state=bogus", "state"],
    ["state=open,", "state"],
    ["state=open&state=nope", "state"],
    ["api=ftp", "api"],
    ["order=random", "order"],
    ["limit=0", "limit"],
    ["limit=201", "limit"],
    ["limit=abc", "limit"],
    ["limit=1.5", "limit"],
    ["limit=-3", "limit"],
    ["createdAfter=yesterday", "createdAfter"],
    ["staleBefore=2026-13-01T00:00:00Z", "staleBefore"],
    ["cursor=not-a-cursor", "cursor"],
  ])("refuses %s (400, naming %s)", async (query, field) => {
    const response = await pipeline.json<{ error: { code: string; details: { path: string }[] } }>(`/uploads?${query}`);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("invalid_request");
    expect(response.body.error.details.map((detail) => detail.path)).toContain(field);
  });

  it("refuses a cursor of another order (400)", async () => {
    await fixture();
    const page = await list("limit=1&order=oldest");
    const response = await pipeline.json(`/uploads?order=newest&cursor=${page.nextCursor}`);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: "invalid_request" } });
  });
});

describe("GET /uploads/summary", () => {
  async function summary(credential = DEV_KEY): Promise<UploadSummary> {
    const response = await pipeline.json<UploadSummary>("/uploads/summary", {
      headers: { authorization: `Bearer ${credential}` },
    });
    expect(response.status).toBe(200);
    return response.body;
  }

  it("counts uploads by state, the bytes in flight, the oldest open upload and those expiring within the hour", async () => {
    const f = await fixture();
    const before = Date.now();
    const all = await summary();
    expect(all.byState).toEqual({ open: 5, completing: 0, completed: 1, aborted: 1, failed: 1 });
    expect(all.bytesInFlight).toBe(PART);
    expect(all.oldestOpen).toEqual({ uploadId: f.open.uploadId, key: "a/open.bin", createdAt: f.open.createdAt });
    expect(all.expiringWithinHour).toBe(1);
    expect(Date.parse(all.generatedAt)).toBeGreaterThanOrEqual(before - 1);
  });

  it("covers only the uploads a prefix-limited key may see", async () => {
    const f = await fixture();
    const mine = await summary(A_ONLY_KEY);
    expect(mine.byState).toEqual({ open: 3, completing: 0, completed: 1, aborted: 0, failed: 0 });
    expect(mine.bytesInFlight).toBe(PART);
    expect(mine.oldestOpen?.uploadId).toBe(f.open.uploadId);
  });

  it("is not taken for an upload id", async () => {
    const response = await pipeline.json("/uploads/summary");
    expect(response.body).toHaveProperty("byState");
  });
});
