// Both real Workers, with the consumer's queue giving up after a few attempts instead of 11, and a
// webhook receiver on loopback that refuses deliveries until told otherwise: a notification then
// goes through real retries into the real dead-letter queue. The consumer's config is the real
// consumer/wrangler.toml with only max_retries changed (and its paths made absolute), written to a
// temporary directory, so the test never drifts from what is deployed.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestHarness } from "wrangler";

export const DEV_KEY = "dev-key-0123456789abcdef";
const root = fileURLToPath(new URL("../../", import.meta.url));

/** Replaces exactly one match, so that a change to the real config fails here, loudly. */
function replaceOnce(text: string, pattern: RegExp, replacement: string): string {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`)) ?? [];
  if (matches.length !== 1)
    throw new Error(`consumer/wrangler.toml: expected one match of ${pattern}, found ${matches.length}`);
  return text.replace(pattern, replacement);
}

async function consumerConfig(maxRetries: number): Promise<{ path: string; dir: string }> {
  let text = await readFile(join(root, "consumer/wrangler.toml"), "utf8");
  text = replaceOnce(text, /^main = "index\.ts"$/m, `main = ${JSON.stringify(join(root, "consumer/index.ts"))}`);
  text = replaceOnce(
    text,
    /^migrations_dir = "\.\.\/migrations"$/m,
    `migrations_dir = ${JSON.stringify(join(root, "migrations"))}`,
  );
  // The main queue's block: the one that names a dead-letter queue.
  text = replaceOnce(text, /^max_retries = \d+\n(?=dead_letter_queue = )/m, `max_retries = ${maxRetries}\n`);
  const dir = await mkdtemp(join(tmpdir(), "ingest-dlq-config-"));
  const path = join(dir, "wrangler.toml");
  await writeFile(path, text);
  return { path, dir };
}

export type Delivery = { body: string; headers: IncomingHttpHeaders; status: number };

/** A webhook endpoint that answers `status` (500 until a test says otherwise) and records every delivery. */
function webhookReceiver() {
  const deliveries: Delivery[] = [];
  const state = { status: 500 };
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      deliveries.push({ body: Buffer.concat(chunks).toString("utf8"), headers: request.headers, status: state.status });
      response.writeHead(state.status).end();
    });
  });
  return { server, deliveries, state };
}

export type DeadLetterHarness = Awaited<ReturnType<typeof startDeadLetterHarness>>;

export async function startDeadLetterHarness(options: { maxRetries: number }) {
  const receiver = webhookReceiver();
  await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
  const { port } = receiver.server.address() as AddressInfo;
  const config = await consumerConfig(options.maxRetries);
  const server = createTestHarness({
    root,
    workers: [
      { configPath: "./wrangler.toml" },
      {
        configPath: config.path,
        vars: { WEBHOOK_URL: `http://127.0.0.1:${port}/hooks/ingest`, WEBHOOK_RETRY_BASE_SECONDS: "0" },
      },
      { configPath: "./web/wrangler.toml" },
    ],
  });
  const { url } = await server.listen();
  await server.getWorker("ingest-producer").applyD1Migrations("DB");

  const api = async <T>(
    path: string,
    init: { method?: string; body?: string } = {},
  ): Promise<{ status: number; body: T }> => {
    const response = await server.fetch(path, {
      ...init,
      headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
    });
    return { status: response.status, body: (await response.json()) as T };
  };

  /** Creates an upload and aborts it: its `upload.aborted` notification goes to the webhook. */
  const abortedUpload = async (key: string): Promise<string> => {
    const created = await api<{ uploadId: string }>("/uploads", { method: "POST", body: JSON.stringify({ key }) });
    if (created.status !== 201) throw new Error(`create: ${created.status}`);
    const aborted = await api(`/uploads/${created.body.uploadId}`, { method: "DELETE" });
    if (aborted.status !== 200) throw new Error(`abort: ${aborted.status}`);
    return created.body.uploadId;
  };

  return {
    server,
    url,
    api,
    abortedUpload,
    receiver,
    async close() {
      await server.close();
      await new Promise((resolve) => receiver.server.close(resolve));
      await rm(config.dir, { recursive: true, force: true });
    },
  };
}
