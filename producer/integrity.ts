import { toBase64 } from "../shared/encoding";
import { ApiError } from "../shared/errors";

/**
 * The SHA-256 a request declares in `Content-Digest` (RFC 9530), e.g.
 * `Content-Digest: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`, as standard base64;
 * null when there is no header. Other algorithms are ignored, but one of them alone is refused:
 * the client asked for a check we cannot do.
 */
export function declaredSha256(request: Request): string | null {
  const header = request.headers.get("content-digest");
  if (header === null) return null;
  for (const member of header.split(",")) {
    const match = /^\s*([A-Za-z0-9-]+)\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/.exec(member);
    if (match === null) throw new ApiError(400, "invalid_digest", "Content-Digest must look like sha-256=:<base64>:");
    if (match[1]?.toLowerCase() === "sha-256") {
      const value = match[2] ?? "";
      if (value.length !== 44)
        throw new ApiError(400, "invalid_digest", "a sha-256 digest is 32 bytes (44 base64 characters)");
      return value;
    }
  }
  throw new ApiError(400, "unsupported_digest", "Content-Digest must include sha-256");
}

export type MeteredBody = {
  /** A stream of exactly the declared length, to hand to R2. */
  stream: ReadableStream<Uint8Array>;
  /** Resolves once the body was read in full: its SHA-256 (base64) when one was asked for. */
  done: Promise<{ sha256: string | null }>;
  /**
   * The length error, if the body turned out shorter or longer than declared; `cause` is the
   * error R2 failed with, which may be the first to say so.
   */
  lengthError: (cause?: unknown) => ApiError | null;
};

const bodyTooLong = (declared: number) =>
  new ApiError(400, "length_mismatch", `the body is longer than its Content-Length of ${declared}`);
export const bodyTooShort = (declared: number) =>
  new ApiError(400, "length_mismatch", `the body ended before its Content-Length of ${declared}`);

/**
 * Hands a request body to R2 as a stream of exactly its declared length, hashing it on the way
 * if asked; the body is never buffered. A body shorter or longer than declared makes the
 * stream fail, so it can never become a part or a chunk.
 */
export function meterBody(body: ReadableStream<Uint8Array> | null, declared: number, hash: boolean): MeteredBody {
  // An empty request has no body; an empty byte stream stands in for it (BYOB reads need one).
  const source = body ?? new ReadableStream({ type: "bytes", start: (controller) => controller.close() });
  const fixed = new FixedLengthStream(declared);
  let mismatch: ApiError | null = null;
  const copied = hash ? copyHashing(source, declared, fixed.writable) : source.pipeTo(fixed.writable).then(() => null);
  const done = copied.then(
    (sha256) => ({ sha256 }),
    (error: unknown) => {
      mismatch = lengthMismatchOf(error, declared);
      throw error;
    },
  );
  // The caller awaits `done` only after R2 answered; keep an early failure from going unhandled.
  done.catch(() => undefined);
  return { stream: fixed.readable, done, lengthError: (cause) => mismatch ?? lengthMismatchOf(cause, declared) };
}

/** Our own length errors, and the FixedLengthStream's (as the pipe or R2 report them). */
function lengthMismatchOf(error: unknown, declared: number): ApiError | null {
  if (error instanceof ApiError) return error.code === "length_mismatch" ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  if (/too many bytes/i.test(message)) return bodyTooLong(declared);
  if (/did not see all expected bytes/i.test(message)) return bodyTooShort(declared);
  return null;
}

/**
 * Reads a small body whole, exactly its declared length: one native read into a buffer one byte
 * larger than declared, so that a longer body shows without being read on. A body cut off or
 * shorter than declared is a length error too.
 */
export async function readWhole(body: ReadableStream<Uint8Array> | null, declared: number): Promise<Uint8Array> {
  if (body === null) {
    if (declared === 0) return new Uint8Array(0);
    throw bodyTooShort(declared);
  }
  const reader = body.getReader({ mode: "byob" });
  let read: ReadableStreamReadResult<Uint8Array>;
  try {
    read = await reader.readAtLeast(declared + 1, new Uint8Array(declared + 1));
  } catch {
    throw bodyTooShort(declared);
  }
  const bytes = read.value ?? new Uint8Array(0);
  if (bytes.byteLength > declared) {
    await reader.cancel().catch(() => undefined);
    throw bodyTooLong(declared);
  }
  if (bytes.byteLength < declared) throw bodyTooShort(declared);
  return bytes;
}

/**
 * Without a digest the body is piped natively (above), with no JavaScript per chunk: a JS
 * transform on the body path halves the throughput here. To hash, JavaScript must see the
 * bytes, so it reads them a MiB at a time (BYOB) instead of taking the ~16 KiB chunks the
 * network delivers: ~8 JS hops per 8 MiB part instead of ~512.
 */
const HASHED_READ_BYTES = 1024 * 1024;

async function copyHashing(
  source: ReadableStream<Uint8Array>,
  declared: number,
  sink: WritableStream<Uint8Array>,
): Promise<string> {
  const digest = new crypto.DigestStream("SHA-256");
  const hasher = digest.getWriter();
  const writer = sink.getWriter();
  const reader = source.getReader({ mode: "byob" });
  let seen = 0;
  try {
    for (;;) {
      // One byte more than is left, so that a body longer than declared shows; no more, so
      // that a small chunk does not cost a MiB buffer.
      const size = Math.min(HASHED_READ_BYTES, declared - seen + 1);
      const { value, done } = await reader.readAtLeast(size, new Uint8Array(size));
      if (value !== undefined && value.byteLength > 0) {
        seen += value.byteLength;
        if (seen > declared) throw bodyTooLong(declared);
        // Hash first: the sink may take the buffer over once written.
        await hasher.write(value);
        await writer.write(value);
      }
      if (done) break;
    }
    if (seen !== declared) throw bodyTooShort(declared);
    await hasher.close();
    await writer.close();
  } catch (error) {
    // Abandoning the hash rejects its digest promise; nobody wants it any more.
    digest.digest.catch(() => undefined);
    await Promise.allSettled([writer.abort(error), reader.cancel(error), hasher.abort(error)]);
    throw error;
  }
  return toBase64(await digest.digest);
}

export const digestMismatch = (what: string) =>
  new ApiError(400, "digest_mismatch", `the ${what}'s SHA-256 does not match its Content-Digest; send it again`);

/** Normalises a whole-object SHA-256 given as hex or base64 to base64. */
export function normaliseSha256(value: string): string | null {
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    const bytes = new Uint8Array(32);
    for (let i = 0; i < 32; i++) bytes[i] = Number.parseInt(value.slice(i * 2, i * 2 + 2), 16);
    return toBase64(bytes);
  }
  if (/^[A-Za-z0-9+/]{43}=$/.test(value)) return value;
  if (/^[A-Za-z0-9_-]{43}$/.test(value)) return `${value.replace(/-/g, "+").replace(/_/g, "/")}=`;
  return null;
}
