import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LATENCY_SAMPLE, prefixRange, queryPlan, recentQueries } from "../../shared/db/listing";
import type { UploadSummary } from "../../shared/listing-schemas";
import { bytes, DEV_KEY, PART, Pipeline } from "./helpers";

const HOUR = 3_600_000;
const A_ONLY_KEY = "key-for-a-only-0123456789abcdef";
const API_KEYS = JSON.stringify([
  { id: "ops", key: DEV_KEY },
  { id: "a-only", key: A_ONLY_KEY, prefix: "a/" },
]);

// Without Analytics Engine: the totals come from D1 alone.
const pipeline = new Pipeline({ producerVars: { API_KEYS }, metrics: undefined });

async function summary(credential = DEV_KEY): Promise<UploadSummary> {
  const response = await pipeline.json<UploadSummary>("/uploads/summary", {
    headers: { authorization: `Bearer ${credential}` },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

async function completeOne(key: string, size: number): Promise<string> {
  const upload = await pipeline.create({ key, parts: 1, partSize: PART });
  expect((await pipeline.putPart(upload.uploadId, 1, bytes(size, size))).status).toBe(200);
  await pipeline.settle();
  return upload.uploadId;
}

async function latencyOf(uploadId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT completed_at - last_activity_at AS ms FROM uploads WHERE upload_id = ?1")
    .bind(uploadId)
    .first<{ ms: number }>();
  return row?.ms ?? Number.NaN;
}

describe("GET /uploads/summary: what ended in the last 24 hours, from D1", () => {
  it("counts completed, failed and aborted uploads, the bytes completed and last part -> completed p50/p95", async () => {
    const empty = await summary();
    expect(empty.recent).toMatchObject({ completed: 0, failed: 0, aborted: 0, bytesCompleted: 0 });
    expect(empty.recent.completionLatencyMs).toBeNull();

    const small = await completeOne("a/small.bin", 100);
    const large = await completeOne("b/large.bin", 300);
    // A completion from yesterday: outside the window.
    const old = await completeOne("a/yesterday.bin", 700);
    await env.DB.prepare("UPDATE uploads SET updated_at = updated_at - 25 * ?2 WHERE upload_id = ?1")
      .bind(old, HOUR)
      .run();
    // Declares the SHA-256 of other bytes than it sends: it fails.
    const declared = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes(10, 2)))));
    const failed = await pipeline.create({ key: "b/failed.bin", parts: 1, partSize: PART, sha256: declared });
    await pipeline.putPart(failed.uploadId, 1, bytes(10, 1));
    await pipeline.settle();
    const aborted = await pipeline.create({ key: "a/aborted.bin", parts: 2, partSize: PART });
    await pipeline.json(`/uploads/${aborted.uploadId}`, { method: "DELETE" });
    await pipeline.create({ key: "a/open.bin", parts: 2, partSize: PART });

    const before = Date.now();
    const all = await summary();
    const [fast, slow] = [await latencyOf(small), await latencyOf(large)].sort((x, y) => x - y);
    expect(all.recent).toEqual({
      since: expect.any(String),
      completed: 2,
      failed: 1,
      aborted: 1,
      bytesCompleted: 400,
      // Nearest rank of two: the first is the median, the second the 95th percentile.
      completionLatencyMs: { p50: fast, p95: slow, sample: 2 },
    });
    expect(Date.parse(all.generatedAt) - Date.parse(all.recent.since)).toBe(24 * HOUR);
    expect(Date.parse(all.generatedAt)).toBeGreaterThanOrEqual(before - 1);
    expect(all.byState).toMatchObject({ completed: 3, failed: 1, aborted: 1, open: 1 });

    // A key limited to "a/" sees the totals of its prefix only.
    const mine = await summary(A_ONLY_KEY);
    expect(mine.recent).toMatchObject({ completed: 1, failed: 0, aborted: 1, bytesCompleted: 100 });
    const own = await latencyOf(small);
    expect(mine.recent.completionLatencyMs).toEqual({ p50: own, p95: own, sample: 1 });
  });

  it("reads both totals through the ended-uploads index alone, the latency sample in index order and bounded", async () => {
    for (const keys of [{ from: "", to: null }, prefixRange("a/")]) {
      const [totals, latency] = recentQueries(keys, Date.now() - 24 * HOUR);
      for (const query of [totals, latency]) {
        if (query === undefined) throw new Error("two queries expected");
        const plan = await queryPlan(env.DB, query);
        const reads = plan.filter((step) => /\bu\b/.test(step));
        expect(reads.length, plan.join("\n")).toBeGreaterThan(0);
        for (const line of reads) expect(line).toMatch(/USING COVERING INDEX uploads_ended/);
        if (query === latency) expect(plan.join("\n")).not.toMatch(/TEMP B-TREE/);
      }
      // The newest completions come in index order, at most LATENCY_SAMPLE of them.
      expect(latency?.sql).toContain(`ORDER BY u.updated_at DESC LIMIT ${LATENCY_SAMPLE}`);
    }
  });
});
