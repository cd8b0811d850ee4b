import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mapWithConcurrency } from "../../shared/concurrency";
import { STAGING_PREFIX } from "../../shared/schemas";
import { bytes, concat, objectBytes, PART, Pipeline } from "./helpers";
import { D1_STORE } from "./stream-helpers";

const HOUR = 60 * 60 * 1000;

async function sha256Base64(data: Uint8Array): Promise<string> {
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", data))));
}

type Send = { body: Uint8Array; length?: number; digestOf?: Uint8Array; final?: boolean };

/** A chunk PUT with a chosen Content-Length and Content-Digest, to send bodies that do not match them. */
function putChunk(pipeline: Pipeline, uploadId: string, seq: number, send: Send) {
  return (async () => {
    const headers: Record<string, string> = { "content-length": String(send.length ?? send.body.byteLength) };
    if (send.digestOf !== undefined) headers["content-digest"] = `sha-256=:${await sha256Base64(send.digestOf)}:`;
    return pipeline.json<{ error?: { code: string } }>(
      `/uploads/${uploadId}/chunks/${seq}${send.final === true ? "?final=1" : ""}`,
      { method: "PUT", body: send.body, headers },
    );
  })();
}

/** Every stored trace of one stream: its row, its chunk rows, and the staged objects with their etags. */
async function streamState(uploadId: string): Promise<string> {
  const upload = await env.DB.prepare("SELECT * FROM uploads WHERE upload_id = ?1").bind(uploadId).first();
  const chunks = await env.DB.prepare("SELECT * FROM chunks WHERE upload_id = ?1 ORDER BY seq").bind(uploadId).all();
  const staged = await env.BUCKET.list({ prefix: `${STAGING_PREFIX}${uploadId}/` });
  return JSON.stringify({
    upload,
    chunks: chunks.results,
    staged: staged.objects.map((object) => [object.key, object.etag, object.size]),
  });
}

/** Everything under the staging prefix, for every upload. */
async function allStaged(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BUCKET.list({ prefix: STAGING_PREFIX, cursor });
    keys.push(...page.objects.map((object) => object.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return keys;
}

describe("a refused chunk changes nothing", () => {
  it("refuses re-sends of an accepted chunk (wrong digest, short body, long body) and completes with the accepted bytes", async () => {
    const pipeline = new Pipeline(D1_STORE);
    const upload = await pipeline.create({ key: "stream-resend/refused.bin", mode: "stream", partSize: PART });
    const accepted = bytes(100, 1);
    const last = bytes(50, 2);
    expect((await putChunk(pipeline, upload.uploadId, 1, { body: accepted, digestOf: accepted })).status).toBe(200);
    expect((await putChunk(pipeline, upload.uploadId, 2, { body: last, final: true })).status).toBe(200);
    const before = await streamState(upload.uploadId);

    const other = bytes(100, 3);
    for (const [name, send, code] of [
      ["wrong digest", { body: other, digestOf: accepted }, "digest_mismatch"],
      ["short body", { body: other.slice(0, 60), length: 100 }, "length_mismatch"],
      ["short body with its digest", { body: other.slice(0, 60), length: 100, digestOf: other }, "length_mismatch"],
      ["long body", { body: concat(other, other), length: 100 }, "length_mismatch"],
    ] as const) {
      const refused = await putChunk(pipeline, upload.uploadId, 1, send);
      expect(refused.status, name).toBe(400);
      expect(refused.body, name).toMatchObject({ error: { code } });
      expect(await streamState(upload.uploadId), name).toBe(before);
    }

    await pipeline.settle();
    const status = await pipeline.status(upload.uploadId);
    expect(status.state, status.failureReason ?? "").toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(concat(accepted, last));
    expect(await allStaged()).not.toContainEqual(expect.stringContaining(upload.uploadId));
  });

  it("keeps the accepted copy when a refused re-send comes after a good replacement", async () => {
    const pipeline = new Pipeline(D1_STORE);
    const upload = await pipeline.create({ key: "stream-resend/replaced.bin", mode: "stream", partSize: PART });
    expect((await putChunk(pipeline, upload.uploadId, 1, { body: bytes(80, 1) })).status).toBe(200);
    const replacement = bytes(90, 2);
    const replaced = await putChunk(pipeline, upload.uploadId, 1, { body: replacement, digestOf: replacement });
    expect(replaced.status).toBe(200);
    // One staged copy per chunk: the superseded one is gone.
    expect((await env.BUCKET.list({ prefix: `${STAGING_PREFIX}${upload.uploadId}/` })).objects).toHaveLength(1);
    const before = await streamState(upload.uploadId);
    const refused = await putChunk(pipeline, upload.uploadId, 1, { body: bytes(90, 3), digestOf: replacement });
    expect(refused.body).toMatchObject({ error: { code: "digest_mismatch" } });
    expect(await streamState(upload.uploadId)).toBe(before);

    expect((await putChunk(pipeline, upload.uploadId, 2, { body: new Uint8Array(0), final: true })).status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(replacement);
  });

  it("does not record the final marker of a final chunk that was refused", async () => {
    const pipeline = new Pipeline(D1_STORE);
    const upload = await pipeline.create({ key: "stream-resend/final.bin", mode: "stream", partSize: PART });
    const chunks = [bytes(30, 1), bytes(40, 2), bytes(50, 3), bytes(60, 4)];
    expect((await putChunk(pipeline, upload.uploadId, 1, { body: chunks[0]! })).status).toBe(200);
    const before = await streamState(upload.uploadId);

    const short = await putChunk(pipeline, upload.uploadId, 3, {
      body: chunks[2]!.slice(0, 10),
      length: 50,
      final: true,
    });
    expect(short.body).toMatchObject({ error: { code: "length_mismatch" } });
    const wrong = await putChunk(pipeline, upload.uploadId, 3, { body: chunks[2]!, digestOf: chunks[0]!, final: true });
    expect(wrong.body).toMatchObject({ error: { code: "digest_mismatch" } });
    expect((await pipeline.status(upload.uploadId)).stream?.finalChunk).toBeNull();
    expect(await streamState(upload.uploadId)).toBe(before);

    // Nothing is final, so the stream can still go beyond chunk 3.
    for (const seq of [2, 3, 4]) {
      const sent = await putChunk(pipeline, upload.uploadId, seq, { body: chunks[seq - 1]!, final: seq === 4 });
      expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    }
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(concat(...chunks));
  });

  it("leaves no staged object behind when a stream is swept or aborted, whatever was refused, replaced or merged", async () => {
    const pipeline = new Pipeline(D1_STORE);
    // Enough 1-byte chunks that the coalescer copies some into a span before it hands on; the
    // message that would continue it is lost, so the span is still there when the sweep comes.
    const swept = await pipeline.create({
      key: "stream-resend/swept.bin",
      mode: "stream",
      partSize: PART,
      staleAfterSeconds: 60,
    });
    const statuses = await mapWithConcurrency(
      Array.from({ length: 801 }, (_, i) => i + 1),
      16,
      async (seq) => (await pipeline.putChunk(swept.uploadId, seq, bytes(1, seq), { final: seq === 801 })).status,
    );
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    await pipeline.deliver(pipeline.queue.drainAll().slice(0, 1));
    expect(pipeline.queue.drainAll()).toEqual([{ type: "stream.continue", uploadId: swept.uploadId }]);
    expect(
      (await putChunk(pipeline, swept.uploadId, 801, { body: bytes(1, 1), digestOf: bytes(1, 2), final: true })).status,
    ).toBe(400);
    expect((await putChunk(pipeline, swept.uploadId, 800, { body: bytes(1, 7) })).status).toBe(200);
    pipeline.queue.drainAll();
    const staged = await allStaged();
    expect(staged.some((key) => key.includes(`${swept.uploadId}/span-`))).toBe(true);

    const aborted = await pipeline.create({ key: "stream-resend/aborted.bin", mode: "stream", partSize: PART });
    for (const seq of [1, 2, 3]) await pipeline.putChunk(aborted.uploadId, seq, bytes(10, seq));
    await putChunk(pipeline, aborted.uploadId, 2, { body: bytes(10, 9), length: 20 });
    await putChunk(pipeline, aborted.uploadId, 3, { body: bytes(10, 8) });
    expect((await pipeline.fetch(`/uploads/${aborted.uploadId}`, { method: "DELETE" })).status).toBeLessThan(300);

    await pipeline.cron(Date.now() + HOUR);
    await pipeline.settle();
    expect((await pipeline.status(swept.uploadId)).state).toBe("aborted");
    expect((await pipeline.status(aborted.uploadId)).state).toBe("aborted");
    expect(await allStaged()).toEqual([]);
  }, 120_000);
});
