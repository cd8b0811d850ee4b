import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { stagingPrefix } from "../../shared/db/chunks";

import { signWebhook, verifyWebhook } from "../../shared/webhook-signature";
import { bytes, captureLogs, concat, objectBytes, PART, Pipeline, storedState } from "./helpers";

async function sha256Base64(data: Uint8Array): Promise<string> {
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", data))));
}

function putWith(pipeline: Pipeline, path: string, data: Uint8Array, headers: Record<string, string>) {
  return pipeline.json<{ sha256?: string | null }>(path, {
    method: "PUT",
    body: data,
    headers: { "content-length": String(data.byteLength), ...headers },
  });
}

describe("Content-Digest on parts and chunks", () => {
  it("accepts a part whose SHA-256 matches and shows the digest in the status", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/ok.bin", parts: 2, partSize: PART });
    const data = bytes(1000, 1);
    const digest = await sha256Base64(data);
    const response = await putWith(pipeline, `/uploads/${upload.uploadId}/parts/2`, data, {
      "content-digest": `sha-512=:${btoa("x".repeat(64))}:, sha-256=:${digest}:`,
    });
    expect(response.status).toBe(200);
    expect(response.body.sha256).toBe(digest);
    await pipeline.deliver(pipeline.queue.drain());
    expect((await pipeline.status(upload.uploadId)).partDigests).toEqual({ "2": digest });
  });

  it("hashes parts of several MiB exactly and stores them byte-exact", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/large.bin", parts: 2, partSize: PART });
    const parts = [bytes(PART, 11), bytes(3 * 1024 * 1024 + 7, 12)];
    for (const [index, part] of parts.entries()) {
      const digest = await sha256Base64(part);
      const response = await putWith(pipeline, `/uploads/${upload.uploadId}/parts/${index + 1}`, part, {
        "content-digest": `sha-256=:${digest}:`,
      });
      expect(response.status).toBe(200);
      expect(response.body.sha256).toBe(digest);
    }
    await pipeline.deliver(pipeline.queue.drain());
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(concat(...parts));
  });

  it("notices a single changed byte at the very end of a large part", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/tail.bin", parts: 1, partSize: PART });
    const sent = bytes(PART, 13);
    const declared = await sha256Base64(sent);
    const tampered = sent.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    const refused = await putWith(pipeline, `/uploads/${upload.uploadId}/parts/1`, tampered, {
      "content-digest": `sha-256=:${declared}:`,
    });
    expect(refused.body).toMatchObject({ error: { code: "digest_mismatch" } });
    expect(pipeline.queue.drain()).toEqual([]);
  });

  it("refuses a short or long body that carries a digest as a length mismatch", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/length.bin", parts: 1, partSize: PART });
    const data = bytes(100, 14);
    const digest = `sha-256=:${await sha256Base64(data)}:`;
    const path = `/uploads/${upload.uploadId}/parts/1`;
    for (const declared of ["120", "80"]) {
      const refused = await pipeline.json(path, {
        method: "PUT",
        body: data,
        headers: { "content-length": declared, "content-digest": digest },
      });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: { code: "length_mismatch" } });
    }
    expect(pipeline.queue.drain()).toEqual([]);
  });

  it("refuses a re-sent part whose bytes do not match and keeps the accepted copy: the upload completes with it", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/bad.bin", parts: 1, partSize: PART });
    const good = bytes(500, 2);
    const first = await putWith(pipeline, `/uploads/${upload.uploadId}/parts/1`, good, {});
    expect(first.status).toBe(200);
    const before = await storedState();
    const corrupt = bytes(500, 3);
    const refused = await putWith(pipeline, `/uploads/${upload.uploadId}/parts/1`, corrupt, {
      "content-digest": `sha-256=:${await sha256Base64(good)}:`,
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: "digest_mismatch" } });
    // The refused bytes went to the part's spare R2 part number: nothing D1 or the bucket's
    // objects hold changed, and no event went out for them.
    expect(await storedState()).toBe(before);
    const events = pipeline.queue.drain();
    expect(events).toHaveLength(1);

    await pipeline.deliver(events);
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(good);
  });

  it("refuses a first copy whose bytes do not match, counts nothing, and waits for a good copy", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/bad-first.bin", parts: 1, partSize: PART });
    const good = bytes(500, 4);
    const refused = await putWith(pipeline, `/uploads/${upload.uploadId}/parts/1`, bytes(500, 5), {
      "content-digest": `sha-256=:${await sha256Base64(good)}:`,
    });
    expect(refused.status).toBe(400);
    expect((await pipeline.status(upload.uploadId)).receivedParts).toBe(0);
    await pipeline.cron(Date.now());
    expect((await pipeline.status(upload.uploadId)).state).toBe("open");

    await putWith(pipeline, `/uploads/${upload.uploadId}/parts/1`, good, {
      "content-digest": `sha-256=:${await sha256Base64(good)}:`,
    });
    await pipeline.deliver(pipeline.queue.drain());
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(good);
  });

  it("refuses malformed and unsupported digests before writing", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/malformed.bin", parts: 1, partSize: PART });
    const path = `/uploads/${upload.uploadId}/parts/1`;
    const malformed = await putWith(pipeline, path, bytes(10, 1), { "content-digest": "sha-256=abc" });
    expect(malformed.body).toMatchObject({ error: { code: "invalid_digest" } });
    const unsupported = await putWith(pipeline, path, bytes(10, 1), {
      "content-digest": `sha-512=:${btoa("x".repeat(64))}:`,
    });
    expect(unsupported.body).toMatchObject({ error: { code: "unsupported_digest" } });
    expect(pipeline.queue.drain()).toEqual([]);
  });

  it("refuses a re-sent chunk whose bytes do not match its digest and keeps the accepted copy", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/chunk.bin", mode: "stream", partSize: PART });
    const path = `/uploads/${upload.uploadId}/chunks/1`;
    expect((await putWith(pipeline, path, bytes(100, 1), {})).status).toBe(200);
    const staged = (await env.BUCKET.list({ prefix: stagingPrefix(upload.uploadId) })).objects.map((o) => o.key);
    const refused = await putWith(pipeline, path, bytes(100, 2), {
      "content-digest": `sha-256=:${await sha256Base64(bytes(100, 1))}:`,
    });
    expect(refused.body).toMatchObject({ error: { code: "digest_mismatch" } });
    const status = await pipeline.status(upload.uploadId);
    expect(status.stream?.chunksReceived).toBe(1);
    expect((await env.BUCKET.list({ prefix: stagingPrefix(upload.uploadId) })).objects.map((o) => o.key)).toEqual(
      staged,
    );
    expect((await putWith(pipeline, `/uploads/${upload.uploadId}/chunks/2?final=1`, bytes(5, 3), {})).status).toBe(200);
    await pipeline.settle();
    expect(await objectBytes(upload.key)).toEqual(concat(bytes(100, 1), bytes(5, 3)));
  });

  it("checks the digest of an empty final chunk", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "digest/empty-final.bin", mode: "stream", partSize: PART });
    const first = bytes(10, 15);
    expect((await putWith(pipeline, `/uploads/${upload.uploadId}/chunks/1`, first, {})).status).toBe(200);
    const empty = new Uint8Array(0);
    const wrong = await putWith(pipeline, `/uploads/${upload.uploadId}/chunks/2?final=1`, empty, {
      "content-digest": `sha-256=:${await sha256Base64(first)}:`,
    });
    expect(wrong.body).toMatchObject({ error: { code: "digest_mismatch" } });
    const right = await putWith(pipeline, `/uploads/${upload.uploadId}/chunks/2?final=1`, empty, {
      "content-digest": `sha-256=:${await sha256Base64(empty)}:`,
    });
    expect(right.status).toBe(200);
    await pipeline.settle();
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
    expect(await objectBytes(upload.key)).toEqual(first);
  });

  it("never turns a body shorter or longer than its Content-Length into a part", async () => {
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "length/part.bin", parts: 1, partSize: PART });
    const path = `/uploads/${upload.uploadId}/parts/1`;
    const short = await pipeline.json(path, { method: "PUT", body: bytes(10, 1), headers: { "content-length": "20" } });
    expect(short.body).toMatchObject({ error: { code: "length_mismatch" } });
    expect(short.status).toBe(400);
    const long = await pipeline.json(path, { method: "PUT", body: bytes(30, 1), headers: { "content-length": "20" } });
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ error: { code: "length_mismatch" } });
    expect(pipeline.queue.drain()).toEqual([]);
    const stream = await pipeline.create({ key: "length/chunk.bin", mode: "stream", partSize: PART });
    const chunk = await pipeline.json(`/uploads/${stream.uploadId}/chunks/1`, {
      method: "PUT",
      body: bytes(10, 1),
      headers: { "content-length": "11" },
    });
    expect(chunk.body).toMatchObject({ error: { code: "length_mismatch" } });
    expect((await pipeline.status(stream.uploadId)).stream?.chunksReceived).toBe(0);
  });
});

describe("whole-object SHA-256", () => {
  it("completes when the object matches the SHA-256 declared at creation", async () => {
    const pipeline = new Pipeline();
    const parts = [bytes(PART, 1), bytes(40, 2)];
    const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const upload = await pipeline.create({ key: "whole/ok.bin", parts: 2, partSize: PART, sha256: hex });
    for (const [i, part] of parts.entries()) await pipeline.putPart(upload.uploadId, i + 1, part);
    await pipeline.deliver(pipeline.queue.drain());
    expect((await pipeline.status(upload.uploadId)).state).toBe("completed");
  });

  it("fails the upload and deletes the object when it does not match", async () => {
    const logs = captureLogs(["completion_failed"]);
    const pipeline = new Pipeline();
    const upload = await pipeline.create({
      key: "whole/bad.bin",
      parts: 1,
      partSize: PART,
      sha256: await sha256Base64(bytes(40, 9)),
    });
    await pipeline.putPart(upload.uploadId, 1, bytes(40, 1));
    await pipeline.deliver(pipeline.queue.drain());
    const status = await pipeline.status(upload.uploadId);
    expect(status.state).toBe("failed");
    expect(status.failureReason).toMatch(/SHA-256 .* not the declared/);
    expect(await objectBytes(upload.key)).toBeNull();
    expect(logs.named("completion_failed")).toEqual([
      expect.objectContaining({ uploadId: upload.uploadId, reason: status.failureReason }),
    ]);
  });

  it("refuses a malformed declared SHA-256", async () => {
    const response = await new Pipeline().json("/uploads", {
      method: "POST",
      body: JSON.stringify({ key: "whole/x", sha256: "abc" }),
    });
    expect(response.body).toMatchObject({ error: { code: "invalid_digest" } });
  });
});

describe("notifications", () => {
  it("announces completed, aborted, stale and failed uploads on the notification queue", async () => {
    const logs = captureLogs(["completion_completed", "completion_failed", "sweep"]);
    const pipeline = new Pipeline();
    const done = await pipeline.create({ key: "notify/done.bin", parts: 1, partSize: PART });
    await pipeline.putPart(done.uploadId, 1, bytes(10, 1));
    const aborted = await pipeline.create({ key: "notify/aborted.bin" });
    await pipeline.json(`/uploads/${aborted.uploadId}`, { method: "DELETE" });
    const stale = await pipeline.create({ key: "notify/stale.bin", staleAfterSeconds: 60 });
    const failed = await pipeline.create({
      key: "notify/failed.bin",
      parts: 1,
      partSize: PART,
      sha256: await sha256Base64(bytes(1, 1)),
    });
    await pipeline.putPart(failed.uploadId, 1, bytes(10, 2));
    await pipeline.settle();
    await pipeline.cron(Date.now() + 60 * 60 * 1000);
    await pipeline.settle();

    const byUpload = new Map(pipeline.notifications.drainAll().map((n) => [n.uploadId, n]));
    expect(byUpload.get(done.uploadId)).toMatchObject({
      type: "upload.completed",
      key: "notify/done.bin",
      object: { size: 10 },
    });
    expect(byUpload.get(aborted.uploadId)).toMatchObject({ type: "upload.aborted", reason: "client" });
    expect(byUpload.get(stale.uploadId)).toMatchObject({ type: "upload.aborted", reason: "stale" });
    expect(byUpload.get(failed.uploadId)).toMatchObject({
      type: "upload.failed",
      reason: expect.stringMatching(/SHA-256/),
    });
    expect(byUpload.get(done.uploadId)?.id).toBe(`${done.uploadId}:completed`);
    expect(logs.named("completion_completed").map((entry) => entry.uploadId)).toEqual([done.uploadId]);
    expect(logs.named("completion_failed").map((entry) => entry.uploadId)).toEqual([failed.uploadId]);
    expect(logs.named("sweep")).toEqual([expect.objectContaining({ staleAborted: 1 })]);
  });

  it("queues a separate webhook delivery when a webhook is configured", async () => {
    const pipeline = new Pipeline({ consumerVars: { WEBHOOK_URL: "https://hooks.example/ingest" } });
    const upload = await pipeline.create({ key: "notify/webhook.bin" });
    await pipeline.json(`/uploads/${upload.uploadId}`, { method: "DELETE" });
    const [ended] = pipeline.queue.drainAll();
    await pipeline.deliver([ended]);
    const queued = pipeline.queue.drainAll();
    expect(queued).toEqual([
      { type: "webhook.deliver", notification: expect.objectContaining({ uploadId: upload.uploadId }) },
    ]);
    expect(pipeline.notifications.drainAll()).toHaveLength(1);
  });

  it("signs webhook bodies so that a receiver can tell them from forgeries and replays", async () => {
    const body = JSON.stringify({ id: "u:completed" });
    const now = Math.floor(Date.now() / 1000);
    const headers = await signWebhook("secret-for-hooks", { id: "u:completed", timestamp: now, body });
    expect(await verifyWebhook("secret-for-hooks", headers, body, now)).toBe(true);
    expect(await verifyWebhook("secret-for-hooks", headers, `${body} `, now)).toBe(false);
    expect(await verifyWebhook("another-secret", headers, body, now)).toBe(false);
    expect(await verifyWebhook("secret-for-hooks", headers, body, now + 3600)).toBe(false);
  });
});
