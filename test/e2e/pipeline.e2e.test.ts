// Both real Workers, built from their own wrangler configs, in one local runtime: the producer
// answers HTTP and sends part events on the real local queue; the consumer tallies them in D1,
// completes uploads by itself and aborts stale ones from its cron. Storage is temporary.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestHarness } from "wrangler";

const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB;
/** Upload ids are 16 random bytes as 22 base64url characters (shared/ids.ts). */
const SHORT_ID = /^[A-Za-z0-9_-]{22}$/;

const server = createTestHarness({
  workers: [
    { configPath: "./wrangler.toml" },
    { configPath: "./consumer/wrangler.toml" },
    { configPath: "./web/wrangler.toml" },
  ],
});

/** The development API key from .dev.vars, which the harness loads like `wrangler dev` does. */
const DEV_KEY = "dev-key-0123456789abcdef";

type CallInit = { method?: string; headers?: Record<string, string>; body?: string | Uint8Array };

const call = (path: string, init: CallInit = {}) =>
  server.fetch(path, { ...init, headers: { authorization: `Bearer ${DEV_KEY}`, ...init.headers } } as Parameters<
    typeof server.fetch
  >[1]);

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const uniqueKey = (name: string) => `e2e/${Date.now()}-${randomBytes(4).toString("hex")}/${name}`;

type Status = {
  uploadId: string;
  state: string;
  receivedParts: number;
  missingParts: unknown[];
  object: { etag: string; size: number } | null;
};

async function json<T>(response: { status: number; text(): Promise<string> }, expectedStatus: number): Promise<T> {
  const body = await response.text();
  expect(response.status, body).toBe(expectedStatus);
  return JSON.parse(body) as T;
}

const postJson = (path: string, body: unknown) =>
  call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

const put = (path: string, body: Uint8Array) => call(path, { method: "PUT", body });

const getStatus = async (uploadId: string) => json<Status>(await call(`/uploads/${uploadId}`), 200);

/** Polls the status endpoint until the upload reaches `state`, for at most `timeout` ms. */
const waitForState = (uploadId: string, state: string, timeout = 15_000) =>
  vi.waitFor(
    async () => {
      const status = await getStatus(uploadId);
      expect(status.state).toBe(state);
      return status;
    },
    { timeout, interval: 100 },
  );

beforeAll(async () => {
  await server.listen();
  await server.getWorker("ingest-producer").applyD1Migrations("DB");
});

afterAll(async () => {
  await server.close();
});

describe("producer and consumer through the real queue", () => {
  it("completes a fire-and-forget upload through the real queue", async () => {
    const parts = [randomBytes(PART_SIZE), randomBytes(PART_SIZE), randomBytes(1234)];
    const whole = Buffer.concat(parts);
    const key = uniqueKey("fire-and-forget.bin");
    const created = await json<Status>(await postJson("/uploads", { key, parts: 3, partSize: PART_SIZE }), 201);
    // Our own short id, not R2's ~170-character multipart id.
    expect(created.uploadId).toMatch(SHORT_ID);

    for (const [index, bytes] of parts.entries()) {
      const part = await json<{ partNumber: number; size: number }>(
        await put(`/uploads/${created.uploadId}/parts/${index + 1}`, bytes),
        200,
      );
      expect(part).toMatchObject({ partNumber: index + 1, size: bytes.length });
    }

    // No call to /complete: the consumer completes the upload once it has tallied every part.
    const done = await waitForState(created.uploadId, "completed");
    expect(done.receivedParts).toBe(3);
    expect(done.missingParts).toEqual([]);
    expect(done.object?.size).toBe(whole.length);

    const object = await call(`/objects/${key}`);
    expect(object.status).toBe(200);
    const stored = new Uint8Array(await object.arrayBuffer());
    expect(stored.length).toBe(whole.length);
    expect(sha256(stored)).toBe(sha256(whole));
  });

  it("aborts an abandoned upload when the cron runs", async () => {
    const created = await json<Status>(
      await postJson("/uploads", {
        key: uniqueKey("abandoned.bin"),
        parts: 2,
        partSize: PART_SIZE,
        staleAfterSeconds: 60,
      }),
      201,
    );
    await json(await put(`/uploads/${created.uploadId}/parts/1`, randomBytes(PART_SIZE)), 200);
    await vi.waitFor(async () => expect((await getStatus(created.uploadId)).receivedParts).toBe(1), {
      timeout: 15_000,
    });

    // A cron run whose clock is past the 60 s window, on the consumer itself.
    const result = await server.getWorker("ingest-consumer").scheduled({
      cron: "* * * * *",
      scheduledTime: new Date(Date.now() + 120_000),
    });
    expect(result.outcome).toBe("ok");

    const aborted = await waitForState(created.uploadId, "aborted", 5_000);
    expect(aborted.object).toBeNull();
    const late = await put(`/uploads/${created.uploadId}/parts/2`, randomBytes(10));
    expect(late.status).toBe(409);
  });

  it("serves the seed-compatible flow through both Workers", async () => {
    const key = uniqueKey("compat.bin");
    const parts = [randomBytes(PART_SIZE), randomBytes(PART_SIZE), randomBytes(777)];
    const whole = Buffer.concat(parts);

    const { uploadId } = await json<{ uploadId: string }>(
      await call(`/${key}?action=mpu-create`, { method: "POST" }),
      200,
    );
    // The seed API hands out the same short id; its clients only echo it back.
    expect(uploadId).toMatch(SHORT_ID);
    const uploaded = await Promise.all(
      parts.map(async (bytes, index) => {
        const query = `action=mpu-uploadpart&uploadId=${encodeURIComponent(uploadId)}&partNumber=${index + 1}`;
        return json<{ partNumber: number; etag: string }>(await put(`/${key}?${query}`, bytes), 200);
      }),
    );

    // The consumer tallies the seed flow's parts too (it never completes an upload without a count).
    await vi.waitFor(async () => expect((await getStatus(uploadId)).receivedParts).toBe(3), { timeout: 15_000 });

    const completed = await call(`/${key}?action=mpu-complete&uploadId=${encodeURIComponent(uploadId)}`, {
      method: "POST",
      body: JSON.stringify({ parts: uploaded }),
    });
    expect(completed.status, await completed.clone().text()).toBe(200);
    expect(completed.headers.get("etag")).toBeTruthy();
    expect((await getStatus(uploadId)).state).toBe("completed");

    const got = await call(`/${key}?action=get`);
    expect(got.status).toBe(200);
    expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(sha256(whole));

    const deleted = await call(`/${key}?action=delete`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    const gone = await call(`/${key}?action=get`);
    expect(gone.status).toBe(404);
    await gone.arrayBuffer();
  });
});
