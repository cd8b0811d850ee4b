// Drives the unmodified tus-js-client (Node build) against the real Workers. What the tests
// need around it: promises instead of callbacks, a URL storage (the Node build keeps none by
// default, so it could not resume), a recording HTTP stack to see what went over the wire, and
// a wait for the consumer, which completes the object shortly after the last PATCH.
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as delay } from "node:timers/promises";
import * as tus from "tus-js-client";
import { expect } from "vitest";
import { endpoint, fetchObject, fetchStatus, type Status, sha256, token } from "./helpers.js";

export const tusEndpoint = () => new URL("files/", endpoint()).href;
export const auth = () => ({ Authorization: `Bearer ${token()}` });
export const randomFile = (size: number) => randomBytes(size);

/** The id of GET /uploads/{id} is the last path segment of the tus upload URL. */
export const uploadIdOf = (url: string | null) => new URL(url ?? "missing:/").pathname.split("/").pop() ?? "";

/** What the Node build uploads from: a Buffer, or a Readable (missing from the typings, which list browser sources). */
export type Source = Buffer | Readable;

/** The server's part size, announced on OPTIONS only: tus-js-client never sends OPTIONS. */
export async function serverPartSize(): Promise<number> {
  const response = await fetch(tusEndpoint(), { method: "OPTIONS" });
  expect(response.status).toBe(204);
  const size = Number(response.headers.get("Upload-Part-Size"));
  expect(size).toBeGreaterThan(0);
  return size;
}

/** A raw tus request (HEAD, PATCH, ...) with the protocol header and the tests' API key. */
export const tusFetch = (url: string, init: RequestInit = {}) =>
  fetch(url, {
    ...init,
    headers: { "Tus-Resumable": "1.0.0", ...auth(), ...(init.headers as Record<string, string>) },
  });

/** Keeps upload URLs in memory, so that a second tus.Upload of the same file finds the first. */
export class MemoryUrlStorage implements tus.UrlStorage {
  private readonly entries = new Map<string, { fingerprint: string; upload: tus.PreviousUpload }>();
  private next = 0;

  async findAllUploads() {
    return [...this.entries.values()].map((entry) => entry.upload);
  }
  async findUploadsByFingerprint(fingerprint: string) {
    return [...this.entries.values()].filter((entry) => entry.fingerprint === fingerprint).map((entry) => entry.upload);
  }
  async removeUpload(urlStorageKey: string) {
    this.entries.delete(urlStorageKey);
  }
  async addUpload(fingerprint: string, upload: tus.PreviousUpload) {
    const urlStorageKey = `tus::${fingerprint}::${this.next++}`;
    this.entries.set(urlStorageKey, { fingerprint, upload: { ...upload, urlStorageKey } });
    return urlStorageKey;
  }
}

/** One request as sent (body size, tus headers) and, once answered, the answer. */
export type Exchange = {
  method: string;
  url: string;
  offset: number | null;
  length: string | null;
  concat: string | null;
  bytes: number;
  status?: number;
  answeredOffset?: number | null;
};

const numberOrNull = (value: string | undefined) => (value === undefined ? null : Number(value));
/** Buffers carry their length; tus-js-client sets `size` on file slices (streams). */
const bodySize = (body: unknown) =>
  body == null ? 0 : body instanceof Uint8Array ? body.byteLength : Number((body as { size?: number }).size ?? 0);

/**
 * The Node HTTP stack, recording each exchange: the tests assert what went over the wire. With
 * `cut`, the `patch`-th PATCH announces its whole chunk but sends only `after` bytes, then the
 * connection drops: what a client sees when its network goes away in the middle of a body.
 */
export function recordingStack(cut?: { patch: number; after: number }) {
  const base = new tus.DefaultHttpStack({});
  const exchanges: Exchange[] = [];
  let patchCount = 0;
  const stack: tus.HttpStack = {
    getName: () => "recording",
    createRequest(method, url) {
      const request = base.createRequest(method, url);
      const send = request.send.bind(request);
      request.send = async (body: unknown) => {
        const exchange: Exchange = {
          method,
          url,
          offset: numberOrNull(request.getHeader("Upload-Offset")),
          length: request.getHeader("Upload-Length") ?? null,
          concat: request.getHeader("Upload-Concat") ?? null,
          bytes: bodySize(body),
        };
        exchanges.push(exchange);
        if (method === "PATCH" && ++patchCount === cut?.patch && body instanceof Uint8Array) {
          exchange.bytes = cut.after;
          body = cutOff(body, cut.after, () => void request.abort());
        }
        const response = await send(body);
        exchange.status = response.getStatus();
        exchange.answeredOffset = numberOrNull(response.getHeader("Upload-Offset"));
        return response;
      };
      return request;
    },
  };
  const patches = () => exchanges.filter((exchange) => exchange.method === "PATCH");
  return { stack, exchanges, patches };
}

/** A body that claims `bytes`' length (the stack sends `size` as Content-Length), stalls after `after` bytes, then drops. */
function cutOff(bytes: Uint8Array, after: number, drop: () => void) {
  let sent = false;
  const stream = new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(bytes.subarray(0, after));
      // Long enough for the server to have taken in what was sent.
      setTimeout(drop, 300);
    },
  });
  return Object.assign(stream, { size: bytes.byteLength });
}

/** Options every upload shares. No retries by default: a retry would hide a refused request. */
export const baseOptions = (key: string, filetype = "application/octet-stream"): tus.UploadOptions => ({
  endpoint: tusEndpoint(),
  headers: auth(),
  metadata: { key, filetype },
  retryDelays: null,
});

/** Runs a tus.Upload to its onSuccess; rejects with onError's error. */
export function runUpload(source: Source, options: tus.UploadOptions) {
  return new Promise<{ upload: tus.Upload; url: string; id: string }>((resolve, reject) => {
    const upload = new tus.Upload(source as Buffer, {
      ...options,
      onSuccess: () => resolve({ upload, url: upload.url ?? "", id: uploadIdOf(upload.url) }),
      onError: reject,
    });
    upload.start();
  });
}

/** Each PATCH starts where the previous one ended, every one is accepted, and the last reaches `size`. */
export function expectContiguous(patches: Exchange[], start: number, size: number) {
  let offset = start;
  for (const patch of patches) {
    expect(patch).toMatchObject({ offset, status: 204, answeredOffset: offset + patch.bytes });
    offset += patch.bytes;
  }
  expect(offset).toBe(size);
}

/** Starts an upload and stops it, with `stop`, after `chunks` PATCHes were accepted. */
export function uploadThenStop(
  bytes: Buffer,
  options: tus.UploadOptions,
  chunks: number,
  stop: (upload: tus.Upload) => Promise<void>,
) {
  return new Promise<string>((resolve, reject) => {
    let accepted = 0;
    const upload = new tus.Upload(bytes, {
      ...options,
      onError: reject,
      onSuccess: () => reject(new Error("the upload finished before it was stopped")),
      // Called before the next PATCH is sent: stopping here leaves no request in flight.
      onChunkComplete: () => {
        if (++accepted === chunks) stop(upload).then(() => resolve(upload.url ?? ""), reject);
      },
    });
    upload.start();
  });
}

/** A new tus.Upload of the same bytes finds the stored URL and resumes there; resolves with the URL. */
export function resumeFromStorage(bytes: Buffer, options: tus.UploadOptions) {
  return new Promise<string>((resolve, reject) => {
    const upload = new tus.Upload(bytes, { ...options, onSuccess: () => resolve(upload.url ?? ""), onError: reject });
    upload
      .findPreviousUploads()
      .then((previous) => {
        expect(previous).toHaveLength(1);
        upload.resumeFromPreviousUpload(previous[0]!);
        upload.start();
      })
      .catch(reject);
  });
}

/** Polls GET /uploads/{id} until it reaches `state`; another final state fails at once. */
export async function waitForState(id: string, state: Status["state"], timeout = 30_000): Promise<Status> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const status = await fetchStatus(id);
    if (status.state === state) return status;
    if (["completed", "aborted", "failed"].includes(status.state)) {
      throw new Error(`upload ${id} is ${status.state}, expected ${state}`);
    }
    if (Date.now() > deadline) throw new Error(`upload ${id} still ${status.state} after ${timeout} ms`);
    await delay(100); // the poll interval: the consumer batches for about a second
  }
}

/** The consumer completes the upload, and the object reads back byte for byte. */
export async function expectCompletedObject(id: string, key: string, bytes: Uint8Array) {
  await waitForState(id, "completed");
  const stored = await fetchObject(key);
  expect(stored.byteLength).toBe(bytes.byteLength);
  expect(sha256(stored)).toBe(sha256(bytes));
}

/**
 * A byte stream delivering `bytes` in pieces of `piece` bytes, as a pipe would. Its length must
 * not be a multiple of the chunkSize: tus-js-client 4.3.1 then waits forever for one more read
 * that the ended stream never answers (see lateEndingStream for that length).
 */
export const streamOf = (bytes: Uint8Array, piece: number) =>
  Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes.byteLength; offset += piece) yield bytes.subarray(offset, offset + piece);
    })(),
    { objectMode: false },
  );

/**
 * A stream whose end becomes known only after its last byte was read, like a socket whose FIN
 * comes after the data, and before the client's next read: tus-js-client then declares the
 * length in a PATCH with no bytes.
 */
export function lateEndingStream(bytes: Uint8Array, piece: number) {
  let offset = 0;
  let ending = false;
  return new Readable({
    read() {
      if (offset < bytes.byteLength) {
        this.push(bytes.subarray(offset, offset + piece));
        offset += piece;
        return;
      }
      if (ending) return; // the end is pushed once
      ending = true;
      // read(0) lets the stream emit "end" while nobody reads: tus-js-client only checks a flag.
      setImmediate(() => {
        this.push(null);
        this.read(0);
      });
    },
  });
}
