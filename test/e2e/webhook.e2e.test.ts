// A real webhook receiver on loopback, called by the real consumer Worker: the signature
// verifies, and deliveries that fail are retried through the queue until one succeeds.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestHarness } from "wrangler";
import { verifyWebhook } from "../../shared/webhook-signature";

const DEV_KEY = "dev-key-0123456789abcdef";
const WEBHOOK_SECRET = "dev-webhook-secret-0123456789abcdef";

type Received = { body: string; signature: string | undefined; status: number };
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
    received.push({ body, signature: request.headers["ingest-signature"] as string | undefined, status });
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
        vars: { WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/ingest`, WEBHOOK_RETRY_BASE_SECONDS: "0" },
      },
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
  it("delivers a signed notification, retrying a receiver that fails the first two times", async () => {
    const created = await server.fetch("/uploads", {
      method: "POST",
      headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ key: "e2e/webhook.bin" }),
    });
    expect(created.status).toBe(201);
    const { uploadId } = (await created.json()) as { uploadId: string };
    const aborted = await server.fetch(`/uploads/${uploadId}`, { method: "DELETE", headers: { authorization: `Bearer ${DEV_KEY}` } });
    expect(aborted.status).toBe(200);

    await vi.waitFor(() => expect(received.some((delivery) => delivery.status === 204)).toBe(true), {
      timeout: 20_000,
      interval: 100,
    });
    expect(received.map((delivery) => delivery.status)).toEqual([500, 500, 204]);
    const delivered = received.at(-1)!;
    expect(JSON.parse(delivered.body)).toMatchObject({ type: "upload.aborted", uploadId, key: "e2e/webhook.bin" });
    expect(await verifyWebhook(WEBHOOK_SECRET, delivered.signature ?? "", delivered.body, Math.floor(Date.now() / 1000))).toBe(true);
    expect(await verifyWebhook("not-the-secret-0123456789", delivered.signature ?? "", delivered.body, Math.floor(Date.now() / 1000))).toBe(false);
  });
});
