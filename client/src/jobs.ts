import { partBounds } from "./parts.js";
import type { Session } from "./session.js";
import type { StreamPart } from "./sources.js";

/** One part to send. A Blob part is read from its source only while it is being sent. */
export type Job = { partNumber: number; size: number; final: boolean; body: Blob | Uint8Array<ArrayBuffer> };

export interface JobFeed {
  next(): Promise<Job | undefined>;
  /** Parts in the source; for a stream, known once it has been read to the end. */
  parts(): number;
  /** Bytes in the source, or null while a stream is still being read. */
  size(): number | null;
}

export interface FeedHooks {
  /** A part the server already has: counted as done, not sent. */
  skip(partNumber: number, size: number): void;
  /** True once nothing more needs sending (the server completed the upload meanwhile). */
  stopped(): boolean;
}

export function blobJobs(blob: Blob, count: number, session: Session, hooks: FeedHooks): JobFeed {
  let partNumber = 0;
  return {
    async next() {
      while (++partNumber <= count && !hooks.stopped()) {
        const { start, end } = partBounds(partNumber, blob.size, session.partSize);
        if (!session.acknowledged.has(partNumber)) {
          return { partNumber, size: end - start, final: partNumber === count, body: blob.slice(start, end) };
        }
        hooks.skip(partNumber, end - start);
      }
      return undefined;
    },
    parts: () => count,
    size: () => blob.size,
  };
}

/**
 * Parts of a stream, in order. Parts the server already has are still read (a stream cannot
 * seek) but not sent.
 */
export function streamJobs(
  first: StreamPart,
  rest: AsyncIterator<StreamPart>,
  session: Session,
  hooks: FeedHooks,
): JobFeed {
  let pending: StreamPart | undefined = first;
  let total = 0;
  let last = 0;
  let ended = false;
  return {
    async next() {
      for (;;) {
        const part: StreamPart | undefined = pending ?? (await rest.next()).value ?? undefined;
        pending = undefined;
        if (part === undefined || hooks.stopped()) {
          ended = part === undefined;
          return undefined;
        }
        total += part.bytes.byteLength;
        last = part.partNumber;
        ended = part.final;
        if (!session.acknowledged.has(part.partNumber))
          return { ...part, size: part.bytes.byteLength, body: part.bytes };
        hooks.skip(part.partNumber, part.bytes.byteLength);
      }
    },
    parts: () => last,
    size: () => (ended ? total : null),
  };
}
