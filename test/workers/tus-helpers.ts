/**
 * Raw tus 1.0 requests against the producer Worker (see /work/plan/TUS.md), and the views of an
 * upload the tus tests assert on: its offset by HEAD, the part events queued for it, its status.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { toBase64 } from "../../shared/encoding";
import { Pipeline, sha256 } from "./helpers";

export const TUS_VERSION = "1.0.0";
export const OCTET_STREAM = "application/offset+octet-stream";

/** Every extension TUS.md promises, sorted. */
export const TUS_EXTENSIONS =
  "creation creation-with-upload creation-defer-length termination expiration checksum concatenation".split(" ").sort();
/** Request headers a browser tus client sends, which a CORS preflight must allow. */
export const TUS_REQUEST_HEADERS = [
  ...["tus-resumable", "upload-length", "upload-defer-length", "upload-offset", "upload-metadata"],
  ...["upload-checksum", "upload-concat", "content-type", "authorization"],
];
/** Answer headers a browser tus client reads, which CORS must expose. */
export const TUS_RESPONSE_HEADERS = [
  ...["location", "upload-offset", "upload-length", "upload-expires", "upload-metadata", "upload-concat"],
  ...["upload-part-size", "upload-token", "tus-resumable", "tus-version", "tus-extension", "tus-max-size"],
];
/** RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
export const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** The items of a comma-separated header. */
export const headerList = (header: string | null) => (header ?? "").split(",").map((item) => item.trim());

/** Upload rows in D1, to show a refused create created nothing. */
export const uploadCount = async () =>
  (await env.DB.prepare("SELECT count(*) AS n FROM uploads").first<{ n: number }>())?.n;

type Headers_ = Record<string, string>;

/** Upload-Metadata as tus writes it: `key base64(value)` pairs joined by commas. */
export function encodeMetadata(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key} ${toBase64(new TextEncoder().encode(value))}`)
    .join(",");
}

const DIGESTS = { sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512", md5: "MD5" } as const;

/** An Upload-Checksum header value: `<algorithm> <base64 digest>`. */
export async function uploadChecksum(algorithm: keyof typeof DIGESTS, data: Uint8Array): Promise<string> {
  return `${algorithm} ${toBase64(await crypto.subtle.digest(DIGESTS[algorithm], data))}`;
}

/** A request body that delivers `after` bytes of `data` and then fails, as a dropped connection does. */
export function cutOff(data: Uint8Array, after: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(data.slice(0, after));
        return;
      }
      controller.error(new Error("injected: connection lost mid-body"));
    },
  });
}

/**
 * A request body that sends `data` up to `at`, then stalls until `release()`: `reached` resolves
 * once the server has read the first piece and asks for more, so a test can act mid-request.
 */
export function stalledBody(data: Uint8Array, at: number) {
  let release = () => {};
  let reachedResolve = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const reached = new Promise<void>((resolve) => {
    reachedResolve = resolve;
  });
  let step = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      step++;
      if (step === 1) return controller.enqueue(data.slice(0, at));
      if (step === 2) {
        reachedResolve();
        await gate;
        return controller.enqueue(data.slice(at));
      }
      controller.close();
    },
  });
  return { stream, reached, release };
}

/** A request body of unknown length (no Content-Length): the bytes in pieces of 64 KiB. */
export function streamOf(data: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= data.byteLength) return controller.close();
      controller.enqueue(data.slice(at, at + 64 * 1024));
      at += 64 * 1024;
    },
  });
}

/** What a refused request must leave unchanged. */
export type UploadView = { offset: string | null; partEvents: number; state: string; bytesReceived: number };

/** tus requests through a Pipeline: each carries Tus-Resumable (see `version`) and the pipeline's credential. */
export class Tus {
  /** The Tus-Resumable every request sends; null sends none. */
  version: string | null = TUS_VERSION;

  constructor(readonly pipeline: Pipeline) {}

  /** A new upload of `length` bytes, on a pipeline of its own (with these producer vars). */
  static async fresh(length: number, vars: Record<string, string> = {}) {
    const tus = new Tus(new Pipeline({ producerVars: vars }));
    return { tus, ...(await tus.open({ length })) };
  }

  request(path: string, method: string, headers: Headers_ = {}, body?: BodyInit | null): Promise<Response> {
    const version: Headers_ = this.version === null ? {} : { "tus-resumable": this.version };
    const init: RequestInit & { duplex?: string } = { method, headers: { ...version, ...headers } };
    if (body !== undefined && body !== null) {
      init.body = body;
      if (body instanceof ReadableStream) init.duplex = "half";
    }
    return this.pipeline.fetch(path, init as RequestInit);
  }

  /** POST /files/: `length` or `defer`, optional metadata and creation-with-upload body. */
  create(
    options: {
      length?: number;
      defer?: boolean;
      metadata?: Record<string, string>;
      headers?: Headers_;
      body?: Uint8Array;
    } = {},
  ): Promise<Response> {
    const headers: Headers_ = {};
    if (options.length !== undefined) headers["upload-length"] = String(options.length);
    if (options.defer === true) headers["upload-defer-length"] = "1";
    if (options.metadata !== undefined) headers["upload-metadata"] = encodeMetadata(options.metadata);
    if (options.body !== undefined) {
      headers["content-type"] = OCTET_STREAM;
      headers["content-length"] = String(options.body.byteLength);
    }
    return this.request("/files/", "POST", { ...headers, ...options.headers }, options.body);
  }

  /** Creates an upload that must be accepted (201) and returns its id and path. */
  async open(options: Parameters<Tus["create"]>[0] = {}): Promise<{ id: string; path: string; response: Response }> {
    const response = await this.create(options);
    expect(response.status, await bodyText(response.clone())).toBe(201);
    const location = response.headers.get("location");
    expect(location).toMatch(/^https?:\/\/[^/]+\/files\/[^/]+$/);
    const path = new URL(location!).pathname;
    return { id: path.split("/").at(-1)!, path, response };
  }

  head(id: string, headers: Headers_ = {}): Promise<Response> {
    return this.request(`/files/${id}`, "HEAD", headers);
  }

  patch(id: string, offset: number, data: Uint8Array | ReadableStream<Uint8Array>, headers: Headers_ = {}) {
    const length: Headers_ = data instanceof Uint8Array ? { "content-length": String(data.byteLength) } : {};
    return this.request(
      `/files/${id}`,
      "PATCH",
      { "content-type": OCTET_STREAM, "upload-offset": String(offset), ...length, ...headers },
      data,
    );
  }

  delete(id: string, headers: Headers_ = {}): Promise<Response> {
    return this.request(`/files/${id}`, "DELETE", headers);
  }

  /** The offset HEAD reports (the upload must exist). */
  async offset(id: string): Promise<number> {
    const response = await this.head(id);
    expect(response.status).toBe(200);
    return Number(response.headers.get("upload-offset"));
  }

  /** PATCHes `data` from `from` in pieces of `chunk` bytes, each answered 204 with its new offset. */
  async send(id: string, data: Uint8Array, options: { from?: number; chunk?: number } = {}): Promise<void> {
    const chunk = options.chunk ?? data.byteLength;
    for (let offset = options.from ?? 0; offset < data.byteLength; offset += chunk) {
      const piece = data.subarray(offset, Math.min(offset + chunk, data.byteLength));
      const response = await this.patch(id, offset, piece);
      expect(response.status, `PATCH at ${offset}: ${await bodyText(response)}`).toBe(204);
      expect(response.headers.get("upload-offset")).toBe(String(offset + piece.byteLength));
    }
  }

  /** Part events the producer has queued for this upload and nobody has taken yet. */
  partEvents(id: string): number {
    return this.pipeline.queue.sent.filter((m) => m.type === "part.uploaded" && m.uploadId === id).length;
  }

  /** The upload as a refused request must leave it. */
  async view(id: string): Promise<UploadView> {
    const head = await this.head(id);
    const status = await this.pipeline.status(id);
    return {
      offset: head.headers.get("upload-offset"),
      partEvents: this.partEvents(id),
      state: status.state,
      bytesReceived: status.bytesReceived,
    };
  }

  /**
   * The object as GET /objects/{key} serves it: its size and SHA-256, or the status when it is
   * not served. Compared with `served(data)`, so a mismatch reads as two digests, not two dumps.
   */
  async object(key: string): Promise<{ size: number; sha256: string } | string> {
    const response = await this.pipeline.fetch(`/objects/${key}`);
    if (response.status !== 200) return `${response.status} ${await bodyText(response)}`;
    return served(new Uint8Array(await response.arrayBuffer()));
  }
}

/** What `Tus.object` answers for an object holding exactly `data`. */
export async function served(data: Uint8Array): Promise<{ size: number; sha256: string }> {
  return { size: data.byteLength, sha256: await sha256(data) };
}

export async function bodyText(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

/** The JSON error code of a refusal. */
export async function errorCode(response: Response): Promise<string | undefined> {
  const text = await bodyText(response);
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Keys in the bucket whose name mentions the upload: staged bytes it may have left. */
export async function stagedKeysOf(id: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BUCKET.list({ cursor });
    keys.push(...page.objects.map((o) => o.key).filter((key) => key.includes(id)));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return keys;
}

/** Whether R2 still has the upload's multipart upload open (false once aborted or completed). */
export async function multipartOpen(id: string): Promise<boolean> {
  const row = await env.DB.prepare("SELECT object_key, r2_upload_id FROM uploads WHERE upload_id = ?1")
    .bind(id)
    .first<{ object_key: string; r2_upload_id: string }>();
  if (row === null) return false;
  try {
    // Part number 10000: one no upload of these tests reaches. A 1-byte part is never completed.
    await env.BUCKET.resumeMultipartUpload(row.object_key, row.r2_upload_id).uploadPart(10000, "x");
    return true;
  } catch (error) {
    if (/does not exist/.test(String(error))) return false;
    throw error;
  }
}

/**
 * Bytes the upload's Durable Object holds back (the tail shorter than a part, in its SQLite
 * storage). Tests assert it is non-zero before they assert it is gone, so a renamed table
 * cannot make the check pass by itself.
 */
export async function tailBytesHeld(id: string): Promise<number> {
  return runInDurableObject(env.TUS_UPLOADS.getByName(id), (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'tail'").toArray();
    if (tables.length === 0) return 0;
    return sql.exec<{ n: number }>("SELECT coalesce(sum(length(bytes)), 0) AS n FROM tail").one().n;
  });
}

/**
 * A D1 binding whose batches commit and then, while `lose()` says so, throw as if the answer
 * were lost on the way back: the write happened, the Worker cannot know it.
 */
export function lostAnswerDb(real: D1Database, lose: () => boolean): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const result = await target.batch(statements);
          if (lose()) throw new Error("D1_ERROR: injected: the answer was lost after the commit");
          return result;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The state of every upload of an object key (a refused create must leave none open). */
export async function statesOfKey(key: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT state FROM uploads WHERE object_key = ?1")
    .bind(key)
    .all<{ state: string }>();
  return results.map((row) => row.state);
}
