import type { ProducerConfig } from "../../shared/config";
import { setTusLength } from "../../shared/db/tus";
import { getUpload, touchUpload, type UploadRow } from "../../shared/db/uploads";
import { toBase64 } from "../../shared/encoding";
import { ApiError } from "../../shared/errors";
import type { Caller } from "../auth/middleware";
import type { Bindings } from "../services/bindings";
import { completeUpload } from "../services/complete";
import { recordPart, type WrittenPart, writePart } from "../services/ingest-part";
import { ByteReader, chunksStream, partStream } from "./bytes";
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, maxUploadSize } from "./protocol";
import { refusalError, type TusStub, uploadGone } from "./stub";
import { LEASE_LOST, type TusSnapshot } from "./types";

export type AppendRequest = {
  caller: Caller;
  uploadId: string;
  offset: number;
  /** Upload-Length sent with this request (a deferred upload learns its length). */
  length: number | null;
  body: ReadableStream<Uint8Array> | null;
  /** Content-Length, when the client sent one. */
  contentLength: number | null;
  checksum: { algorithm: ChecksumAlgorithm; digest: string } | null;
};

/**
 * Appends a request's bytes to a tus upload (PATCH, and creation-with-upload): the upload's
 * Durable Object serialises the writers and holds the tail; this cuts the byte stream at part
 * boundaries and hands each whole part to the same services as every other API. Whole parts
 * stream straight into R2 when the request's length says they are there; a tail shorter than a
 * part goes to the object's storage. With Upload-Checksum, nothing is recorded until the whole
 * request is verified, so a mismatch keeps none of its bytes. Returns the upload as it now is.
 */
export async function appendBytes(
  env: Bindings,
  settings: ProducerConfig,
  stub: TusStub,
  request: AppendRequest,
): Promise<TusSnapshot> {
  if (request.length !== null && request.length > maxUploadSize(settings)) {
    throw new ApiError(413, "upload_too_large", `uploads are at most ${maxUploadSize(settings)} bytes (Tus-Max-Size)`);
  }
  // D1 is read alongside: an upload that ended elsewhere (swept, aborted) takes no more bytes.
  const [begun, stored] = await Promise.all([
    stub.begin({ caller: request.caller, offset: request.offset, length: request.length, now: Date.now() }),
    getUpload(env.DB, request.uploadId),
  ]);
  if (begun === null) throw await uploadGone(env.DB, request.uploadId);
  if ("refused" in begun) throw refusalError(begun);
  if (stored === null || stored.state === "aborted" || stored.state === "failed") {
    await stub.terminate();
    throw await uploadGone(env.DB, request.uploadId);
  }
  const { lease, snapshot } = begun;
  const { meta } = snapshot;
  const size = meta.partSize;
  const hasher =
    request.checksum === null ? null : new crypto.DigestStream(CHECKSUM_ALGORITHMS[request.checksum.algorithm]);
  const hash = hasher?.getWriter() ?? null;
  const reader = new ByteReader(request.body, hash);
  // All or nothing: with a checksum, and with a body of unknown length that might run past the
  // upload's end, parts are held (written, not recorded) until the whole request checks out.
  const atomic = request.checksum !== null || (request.contentLength === null && meta.length !== null);
  const held: WrittenPart[] = [];
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let parts = snapshot.parts;
  let tailBytes = snapshot.tailBytes;
  let row: UploadRow | null = stored;
  let wroteFinal = false;
  /** Bytes to store as tail when the request ends. */
  let keep: Uint8Array[] = [];
  let failure: unknown = null;

  const loadRow = async () => {
    row ??= await getUpload(env.DB, meta.uploadId);
    if (row === null) throw await uploadGone(env.DB, meta.uploadId);
    return row;
  };
  const write = async (body: ReadableStream<Uint8Array>, partSize: number, final: boolean) => {
    const written = await writePart(env, await loadRow(), {
      partNumber: parts + 1,
      body,
      size: partSize,
      sha256: null,
      final,
    });
    row = written.upload;
    if (atomic) held.push(written);
    else {
      await recordPart(env, written);
      await stub.commitParts(lease, 1, Date.now());
    }
    parts += 1;
    tailBytes = 0;
    wroteFinal ||= final;
  };

  try {
    if (request.length !== null) await setTusLength(env.DB, meta.uploadId, request.length);
    const limit = meta.length ?? maxUploadSize(settings);
    if (request.contentLength !== null && request.offset + request.contentLength > limit) {
      throw new ApiError(413, "exceeds_length", `the upload ends at ${limit} bytes; this request goes beyond it`);
    }
    for (;;) {
      const start = parts * size;
      // Past the upload's end there is no part, but for the one empty part of an empty upload.
      if (meta.length !== null && start >= meta.length && !(meta.length === 0 && parts === 0)) break;
      const partSize = meta.length === null ? size : Math.min(size, meta.length - start);
      const final = meta.length !== null && start + partSize === meta.length;
      const need = partSize - tailBytes;
      if (pendingBytes < need) {
        const declaredLeft = request.contentLength === null ? null : request.contentLength - reader.consumed;
        if (pendingBytes === 0 && declaredLeft !== null && declaredLeft >= need) {
          // The request holds the rest of this part: stream it through, the body itself
          // when it is exactly this part (R2 reads it natively: an aligned PATCH costs what a
          // native part PUT does).
          const whole = tailBytes === 0 && declaredLeft === need ? reader.rest(need) : null;
          const stored = tailBytes > 0 ? await stub.storedTail(lease) : null;
          await write(whole ?? partStream(stored, reader, need), partSize, final);
          continue;
        }
        const chunk = await reader.read(need - pendingBytes);
        if (chunk === null) break;
        pending.push(chunk);
        pendingBytes += chunk.byteLength;
        continue;
      }
      await write(chunksStream(tailBytes > 0 ? await stub.storedTail(lease) : null, pending), partSize, final);
      pending = [];
      pendingBytes = 0;
    }
    if ((await reader.read(1)) !== null) {
      throw new ApiError(413, "exceeds_length", `the upload ends at ${limit} bytes; this request goes beyond it`);
    }
    if (request.checksum !== null && hash !== null && hasher !== null) {
      await hash.close();
      if (toBase64(await hasher.digest) !== request.checksum.digest) {
        // tus's own status for a checksum mismatch; Hono's status type does not list it.
        throw new ApiError(460 as 400, "checksum_mismatch", "Upload-Checksum does not match the request's bytes");
      }
    }
    for (const written of held) await recordPart(env, written);
    if (held.length > 0) await stub.commitParts(lease, held.length, Date.now());
    keep = pending;
    const length = meta.length ?? request.length;
    if (!wroteFinal && length !== null && length > 0 && parts * size === length) {
      // A deferred length that ends exactly on a part boundary: the last part went in before
      // anyone knew it was the last. Fix the count now, as the native complete does.
      const current = await loadRow();
      if (current.expected_parts === null) await completeUpload(env, current, { kind: "count", parts });
    }
  } catch (error) {
    failure = error;
    // Bytes fully received before a failure are still good: keep them, unless the request is
    // all or nothing (a checksum; a body that may run past the end).
    if (!atomic) keep = pending;
  }
  // The tail goes in with the release: one call to the object for a PATCH short of a part.
  let finished: Awaited<ReturnType<TusStub["finish"]>> | null = null;
  try {
    finished = await stub.finish(lease, keep, Date.now());
  } catch (error) {
    failure ??= error;
  }
  if (finished?.touchD1 === true) await touchUpload(env.DB, meta.uploadId, Date.now()).catch(() => undefined);
  if (failure !== null) {
    // A PATCH that outlived its lease lost the upload to a newer one: HEAD tells where it is.
    if (failure instanceof Error && failure.message.includes(LEASE_LOST)) {
      throw new ApiError(409, "upload_locked", "another PATCH took over this upload: HEAD for the offset, then resume");
    }
    throw failure;
  }
  if (finished?.snapshot === null || finished === null) throw await uploadGone(env.DB, meta.uploadId);
  return finished.snapshot;
}
