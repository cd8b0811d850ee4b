import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject, onTestFinished } from "vitest";

export const MiB = 1024 * 1024;
export const PART = 5 * MiB;

export const endpoint = () => inject("ingestUrl");
export const token = () => inject("ingestToken");
const authorization = () => ({ authorization: `Bearer ${token()}` });

/** Where and as whom the client under test talks to the Workers. */
export const server = () => ({ endpoint: endpoint(), credentials: { token: token() } });

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export const uniqueKey = (name: string) => `client-tests/${Date.now()}-${randomBytes(4).toString("hex")}/${name}`;

export async function tempFile(
  size: number,
  name = "data.bin",
): Promise<{ path: string; bytes: Uint8Array<ArrayBuffer>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "ingest-client-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const bytes = new Uint8Array(randomBytes(size));
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { path, bytes, dir };
}

export async function fetchObject(key: string): Promise<Uint8Array> {
  const path = key.split("/").map(encodeURIComponent).join("/");
  const response = await fetch(new URL(`objects/${path}`, endpoint()), { headers: authorization() });
  if (response.status !== 200) throw new Error(`GET ${key}: ${response.status} ${await response.text()}`);
  return new Uint8Array(await response.arrayBuffer());
}

export type Status = { state: string; receivedParts: number; missingParts: string[]; expectedParts: number | null };

export async function fetchStatus(uploadId: string): Promise<Status> {
  const response = await fetch(new URL(`uploads/${encodeURIComponent(uploadId)}`, endpoint()), {
    headers: authorization(),
  });
  if (response.status !== 200) throw new Error(`status ${uploadId}: ${response.status}`);
  return (await response.json()) as Status;
}

/** A fetch that records every request the client makes, for counting parts sent. */
export function recordingFetch() {
  const requests: Array<{ method: string; url: string; headers: Headers }> = [];
  const record: typeof fetch = (input, init) => {
    requests.push({ method: init?.method ?? "GET", url: String(input), headers: new Headers(init?.headers) });
    return fetch(input, init);
  };
  const partPuts = () =>
    requests
      .filter((request) => request.method === "PUT")
      .map((request) => Number(/\/parts\/(\d+)(?:\?|$)/.exec(request.url)?.[1]))
      .sort((a, b) => a - b);
  return { fetch: record, requests, partPuts };
}

/** Splits bytes into chunks of awkward sizes, as a pipe would deliver them. */
export async function* chunked(bytes: Uint8Array, sizes = [65_536, 1_000, 333_333, 7]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < bytes.byteLength; i++) {
    const size = sizes[i % sizes.length] ?? 65_536;
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}
