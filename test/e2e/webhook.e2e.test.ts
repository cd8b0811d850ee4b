// A real webhook receiver on loopback, called by the real consumer Worker: deliveries follow
// the Standard Webhooks specification (checked with its published library as well as our own
// helper), and deliveries that fail are retried through the queue until one succeeds.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestHarness } from "wrangler";
import { signWebhook, verifyWebhook } from "../../shared/webhook-signature";

const DEV_KEY = "dev-key-0123456789abcdef";
// The specification's secret form: whsec_ and base64 of random bytes.
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString("base64")}`;

type Received = { body: string; headers: IncomingHttpHeaders; status: number };
const received: Received[] = [];
let failuresLeft = 2;

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

const receiver: Server = createServer((request, response) => {
  void readBody(request).then((body) => {
    const status = failuresLeft-- > 0 ? 500 : 204;
    received.push({ body, headers: request.headers, status });
    response.writeHead(status).end();
  });
});

let server: ReturnType<typeof createTestHarness>;

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const { port } = receiver.address() as AddressInfo;
  server = createTestHarness({
    workers: [
      { configPath: "./wrangler.toml" },
      {
        configPath: "./consumer/wrangler.toml",
        vars: {
          WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/ingest`,
          WEBHOOK_RETRY_BASE_SECONDS: "0",
          WEBHOOK_SECRET,
        },
      },
      { configPath: "./web/wrangler.toml" },
    ],
  });
  await server.listen();
  await server.getWorker("ingest-producer").applyD1Migrations("DB");
});

afterAll(async () => {
  await server.close();
  await new Promise((resolve) => receiver.close(resolve));
});

describe("webhook notifications", () => {
  it("delivers a notification signed per Standard Webhooks, retrying a failing receiver under one webhook-id", async () => {
    const created = await server.fetch("/uploads", {
      method: "POST",
      headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ key: "e2e/webhook.bin" }),
    });
    expect(created.status).toBe(201);
    const { uploadId } = (await created.json()) as { uploadId: string };
    const aborted = await server.fetch(`/uploads/${uploadId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${DEV_KEY}` },
    });
    expect(aborted.status).toBe(200);

    await vi.waitFor(() => expect(received.some((delivery) => delivery.status === 204)).toBe(true), {
      timeout: 20_000,
      interval: 100,
    });
    expect(received.map((delivery) => delivery.status)).toEqual([500, 500, 204]);
    const delivered = received.at(-1)!;
    const notification = JSON.parse(delivered.body) as { id: string };
    expect(notification).toMatchObject({ type: "upload.aborted", uploadId, key: "e2e/webhook.bin" });
    expect(delivered.headers["content-type"]).toBe("application/json");
    expect(delivered.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(delivered.headers["webhook-timestamp"]).toMatch(/^\d+$/);
    expect(delivered.headers["ingest-signature"]).toBeUndefined();
    // Retries repeat the notification's id, so a receiver can drop what it has already seen.
    expect(received.map((delivery) => delivery.headers["webhook-id"])).toEqual(Array(3).fill(notification.id));

    const headers = {
      "webhook-id": String(delivered.headers["webhook-id"]),
      "webhook-timestamp": String(delivered.headers["webhook-timestamp"]),
      "webhook-signature": String(delivered.headers["webhook-signature"]),
    };
    expect(new Webhook(WEBHOOK_SECRET).verify(delivered.body, headers)).toEqual(notification);
    expect(() => new Webhook(`whsec_${randomBytes(32).toString("base64")}`).verify(delivered.body, headers)).toThrow();
    expect(() => new Webhook(WEBHOOK_SECRET).verify(`${delivered.body} `, headers)).toThrow();

    const now = Math.floor(Date.now() / 1000);
    expect(await verifyWebhook(WEBHOOK_SECRET, delivered.headers, delivered.body, now)).toBe(true);
    expect(await verifyWebhook("not-the-secret-0123456789", delivered.headers, delivered.body, now)).toBe(false);
  });

  it("signs with a raw (non-whsec_) WEBHOOK_SECRET so that the library's raw format verifies it", async () => {
    const rawSecret = "dev-webhook-secret-0123456789abcdef";
    const body = JSON.stringify({ id: "raw:completed" });
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = await signWebhook(rawSecret, { id: "raw:completed", timestamp, body });
    expect(new Webhook(rawSecret, { format: "raw" }).verify(body, headers)).toEqual({ id: "raw:completed" });
    // And the other way round: what the library signs, our receiver helper accepts.
    const librarySigned = new Webhook(WEBHOOK_SECRET).sign("msg_1", new Date(timestamp * 1000), body);
    const fromLibrary = {
      "webhook-id": "msg_1",
      "webhook-timestamp": String(timestamp),
      "webhook-signature": librarySigned,
    };
    expect(await verifyWebhook(WEBHOOK_SECRET, fromLibrary, body, timestamp)).toBe(true);
  });
});
