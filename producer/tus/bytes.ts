import { ApiError } from "../../shared/errors";

/** JavaScript reads the body a MiB at a time where it must see the bytes: few hops per part. */
const READ_BYTES = 1024 * 1024;

type AnyReader = ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;

/**
 * Reads a request body in pieces of at most a given size, so that the byte stream can be cut
 * at part boundaries; every byte read also goes to the hash, if any. Where the rest of the
 * body is exactly what R2 needs next, it hands the body itself over, so that R2 reads it
 * natively, with no JavaScript per chunk.
 */
export class ByteReader {
  private reader: AnyReader | null = null;
  private leftover: Uint8Array | null = null;
  private handedOver = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(
    private readonly body: ReadableStream<Uint8Array> | null,
    private readonly hash: WritableStreamDefaultWriter<Uint8Array> | null,
  ) {}

  /**
   * The rest of the body as the stream itself, counted as `size` bytes: only when nothing is
   * buffered and nothing hashes, else null (then read it piece by piece).
   */
  rest(size: number): ReadableStream<Uint8Array> | null {
    if (this.body === null || this.hash !== null || this.leftover !== null || this.handedOver) return null;
    this.reader?.releaseLock();
    this.reader = null;
    this.handedOver = true;
    this.consumed += size;
    return this.body;
  }

  /** Up to `max` bytes (max > 0), or null at the end of the body. */
  async read(max: number): Promise<Uint8Array | null> {
    if (this.handedOver || this.body === null) return null;
    let chunk = this.leftover;
    this.leftover = null;
    while (chunk === null || chunk.byteLength === 0) {
      chunk = await this.next(max);
      if (chunk === null) return null;
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

  private async next(max: number): Promise<Uint8Array | null> {
    const body = this.body;
    if (body === null) return null;
    try {
      if (this.reader === null) {
        try {
          this.reader = body.getReader({ mode: "byob" });
        } catch {
          // Not a byte stream (a body a test built in JavaScript): the default reader then.
          this.reader = body.getReader();
        }
      }
      if ("readAtLeast" in this.reader) {
        const size = Math.min(max, READ_BYTES);
        const result = await this.reader.readAtLeast(size, new Uint8Array(size));
        if (result.value !== undefined && result.value.byteLength > 0) return result.value;
        return result.done ? null : new Uint8Array(0);
      }
      const result = await this.reader.read();
      return result.done ? null : result.value;
    } catch {
      throw new ApiError(400, "incomplete_body", "the request body ended before its end: resume from Upload-Offset");
    }
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
  let remaining = count;
  return tailThen(stored, async () => {
    if (remaining === 0) return null;
    // A body that ends (or is cut off) inside the part just ends the stream early: R2's
    // fixed-length read then fails as a short body (400), not as a storage failure.
    const chunk = await body.read(remaining).catch(() => null);
    if (chunk !== null) remaining -= chunk.byteLength;
    return chunk;
  });
}

/** A stream of `stored` (the tail, if any), then of byte chunks already in memory. */
export function chunksStream(
  stored: ReadableStream<Uint8Array> | null,
  chunks: Uint8Array[],
): ReadableStream<Uint8Array> {
  const queue = [...chunks];
  return tailThen(stored, async () => queue.shift() ?? null);
}

/** The stored tail's bytes, then whatever `next` gives until it gives null. */
function tailThen(
  stored: ReadableStream<Uint8Array> | null,
  next: () => Promise<Uint8Array | null>,
): ReadableStream<Uint8Array> {
  const tail = stored?.getReader() ?? null;
  let tailDone = tail === null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!tailDone && tail !== null) {
        const read = await tail.read();
        if (!read.done) {
          controller.enqueue(read.value);
          return;
        }
        tailDone = true;
      }
      const chunk = await next();
      if (chunk === null) controller.close();
      else controller.enqueue(chunk);
    },
  });
}
