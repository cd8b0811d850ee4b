import { toBase64, toHex } from "../../shared/encoding";
import type { ReadChunk } from "./types";

/** Rows are at most this big (a Durable Object's SQLite value is at most 2 MB). */
export const ROW_BYTES = 1024 * 1024;

/** Why a body could not be read (the metered body's own message says whether it was its length). */
export type ReadFailure = { failed: string; received: number };

/**
 * Reads a chunk's body into rows of at most 1 MiB, hashing it on the way: MD5 (hex, what the
 * chunk API answers, as R2's ETag of a staged chunk was) and, when asked, SHA-256 (base64).
 * A failure is returned with its message (a metered body fails when it is shorter or longer than declared).
 */
export async function readChunk(
  body: ReadableStream<Uint8Array>,
  hashSha256: boolean,
): Promise<ReadChunk | ReadFailure> {
  const md5 = new crypto.DigestStream("MD5");
  const sha = hashSha256 ? new crypto.DigestStream("SHA-256") : null;
  const md5Writer = md5.getWriter();
  const shaWriter = sha?.getWriter() ?? null;
  const rows: ArrayBuffer[] = [];
  let row = new Uint8Array(ROW_BYTES);
  let filled = 0;
  let size = 0;
  try {
    for await (const piece of body) {
      await md5Writer.write(piece);
      await shaWriter?.write(piece);
      size += piece.byteLength;
      for (let at = 0; at < piece.byteLength; ) {
        const take = Math.min(ROW_BYTES - filled, piece.byteLength - at);
        row.set(piece.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === ROW_BYTES) {
          rows.push(row.buffer);
          row = new Uint8Array(ROW_BYTES);
          filled = 0;
        }
      }
    }
  } catch (error) {
    return { failed: error instanceof Error ? error.message : String(error), received: size };
  }
  if (filled > 0) rows.push(row.buffer.slice(0, filled));
  await md5Writer.close();
  await shaWriter?.close();
  return {
    rows,
    size,
    md5: toHex(await md5.digest),
    sha256: sha === null ? null : toBase64(new Uint8Array(await sha.digest)),
  };
}

/** A small chunk read whole already: one row, hashed in one call each. */
export async function hashBytes(bytes: Uint8Array, hashSha256: boolean): Promise<ReadChunk> {
  const [md5, sha256] = await Promise.all([
    crypto.subtle.digest("MD5", bytes),
    hashSha256 ? crypto.subtle.digest("SHA-256", bytes) : null,
  ]);
  const row =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  return {
    rows: bytes.byteLength === 0 ? [] : [row as ArrayBuffer],
    size: bytes.byteLength,
    md5: toHex(md5),
    sha256: sha256 === null ? null : toBase64(new Uint8Array(sha256)),
  };
}
