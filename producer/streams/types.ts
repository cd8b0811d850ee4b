import type { ContentfulStatusCode } from "hono/utils/http-status";
import type * as z from "zod/mini";
import type { ChunkStagedResponse, StreamStatus } from "../../shared/schemas";
import type { Caller } from "../auth/middleware";

/** What a stream's Durable Object keeps of it (one JSON row). */
export type StreamMeta = {
  uploadId: string;
  key: string;
  partSize: number;
  staleAfterSeconds: number;
  finalChunk: number | null;
  /** The cursor: the first chunk not wholly in a written part, and how much of it is. */
  nextChunk: number;
  nextOffset: number;
  nextPart: number;
  committedBytes: number;
  /** `ended`: the last part is recorded; the consumer completes the upload. */
  state: "open" | "ended";
  /** What D1 last heard as the stream's expiry; told again once half a stale window went by. */
  d1ExpiresAt: number;
  /** Failed attempts at writing a part in a row (the alarm's backoff). */
  retries?: number;
};

/** The next part to write: `size` bytes from `firstChunk` at `firstOffset`, under `lease`. */
export type PartPlan = {
  lease: string;
  partNumber: number;
  firstChunk: number;
  firstOffset: number;
  size: number;
  /** The stream's last part: the part count is fixed at it. */
  last: boolean;
  finalChunk: number | null;
  /** The stream's committed bytes once this part is in. */
  committedBytes: number;
};

/** A chunk's bytes, read whole and hashed, in rows of at most 1 MiB (one row per chunk up to 1 MiB). */
export type ReadChunk = { rows: ArrayBuffer[]; size: number; md5: string; sha256: string | null };

export type AcceptRequest = {
  caller: Caller;
  seq: number;
  final: boolean;
  /** The SHA-256 the client declared (base64), checked here for a streamed body. */
  sha256: string | null;
  /**
   * Small chunks arrive read, hashed and checked by the Worker (one RPC argument is cheaper
   * than a stream, and the hashing stays off the object's single thread); larger ones stream.
   */
  body: ReadableStream<Uint8Array> | ReadChunk;
  now: number;
};

/** A refusal, returned rather than thrown (an error crossing RPC loses its class). */
export type Refusal = {
  kind: "refused";
  status: ContentfulStatusCode;
  code: string;
  message: string;
  details?: Record<string, string>;
};

export type AcceptResult =
  /** The object holds no such stream (not registered yet, or ended and forgotten). */
  | { kind: "unknown" }
  | Refusal
  /** The body could not be read in full (shorter or longer than declared, or cut off). */
  | { kind: "body_failed"; message: string; received: number }
  | {
      kind: "accepted";
      response: ChunkStagedResponse;
      /** The stream's object key, for the chunk's data point. */
      key: string;
      /** Set when D1 should hear of the activity: the new expiry to record. */
      touchD1: number | null;
      part: PartPlan | null;
    };

export type StreamSummary = z.infer<typeof StreamStatus> & { state: StreamMeta["state"] };

export function refusal(
  status: ContentfulStatusCode,
  code: string,
  message: string,
  details?: Record<string, string>,
): Refusal {
  return details === undefined
    ? { kind: "refused", status, code, message }
    : { kind: "refused", status, code, message, details };
}
