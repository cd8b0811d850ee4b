import { ApiError } from "../../shared/errors";

/**
 * Reads a request body in pieces of at most a given size, so that the byte stream can be cut
 * at part boundaries without copying it; every byte read also goes to the hash, if any.
 */
export class ByteReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array> | null;
  private leftover: Uint8Array | null = null;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(
    body: ReadableStream<Uint8Array> | null,
    private readonly hash: WritableStreamDefaultWriter<Uint8Array> | null,
  ) {
    this.reader = body?.getReader() ?? null;
  }

  /** Up to `max` bytes (max > 0), or null at the end of the body. */
  async read(max: number): Promise<Uint8Array | null> {
    let chunk = this.leftover;
    this.leftover = null;
    while (chunk === null || chunk.byteLength === 0) {
      if (this.reader === null) return null;
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await this.reader.read();
      } catch {
        throw new ApiError(400, "incomplete_body", "the request body ended before its end: resume from Upload-Offset");
      }
      if (result.done) return null;
      chunk = result.value;
    }
    if (chunk.byteLength > max) {
      this.leftover = chunk.subarray(max);
      chunk = chunk.subarray(0, max);
    }
    this.consumed += chunk.byteLength;
    // A copy for the hash: the chunk itself travels on into R2 or the tail.
    if (this.hash !== null) await this.hash.write(chunk.slice());
    return chunk;
  }
}

/**
 * A stream of `stored` (the tail, if any), then of the next `count` bytes of the body: one
 * part, pulled as R2 reads it, so no part is ever held in memory whole.
 */
export function partStream(
  stored: ReadableStream<Uint8Array> | null,
  body: ByteReader,
  count: number,
): ReadableStream<Uint8Array> {
  const tail = stored?.getReader() ?? null;
  let remaining = count;
  let tailDone = tail === null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!tailDone && tail !== null) {
        const next = await tail.read();
        if (!next.done) {
          controller.enqueue(next.value);
          return;
        }
        tailDone = true;
      }
      if (remaining === 0) {
        controller.close();
        return;
      }
      // A body that ends (or is cut off) inside the part just ends the stream early: R2's
      // fixed-length read then fails as a short body (400), not as a storage failure.
      const chunk = await body.read(remaining).catch(() => null);
      if (chunk === null) {
        controller.close();
        return;
      }
      remaining -= chunk.byteLength;
      controller.enqueue(chunk);
      if (remaining === 0) controller.close();
    },
  });
}

/** A stream of byte chunks already in memory. */
export function chunksStream(
  stored: ReadableStream<Uint8Array> | null,
  chunks: Uint8Array[],
): ReadableStream<Uint8Array> {
  const tail = stored?.getReader() ?? null;
  const queue = [...chunks];
  let tailDone = tail === null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!tailDone && tail !== null) {
        const next = await tail.read();
        if (!next.done) {
          controller.enqueue(next.value);
          return;
        }
        tailDone = true;
      }
      const chunk = queue.shift();
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}
