import { abortUpload } from "../../shared/abort";
import { completeNow } from "../../shared/completion";
import { mapWithConcurrency } from "../../shared/concurrency";
import { summarizeParts } from "../../shared/db/parts";
import { getUpload } from "../../shared/db/uploads";
import type { Env } from "../env";
import { recordPart, writePart } from "../services/ingest-part";
import { partsFor } from "./protocol";
import type { TusMeta } from "./types";

type Partial = NonNullable<TusMeta["partials"]>[number];

/** Parts copied at once: R2 reads and writes in parallel, memory stays a few chunks per part. */
const COPY_CONCURRENCY = 4;

/**
 * Assembles a final upload (concatenation) from its partial uploads: each of its parts is read
 * from the partials' staged objects, whatever their boundaries, and written and recorded like
 * any part, with their events on the queue, and the upload completes through the same claim
 * as every other. Parts already recorded are skipped, so a retry after a failure goes on where
 * it stopped. "waiting" while a partial is still being completed.
 */
export async function assembleFinal(env: Env, meta: TusMeta): Promise<"waiting" | "done"> {
  const partials = meta.partials ?? [];
  for (const partial of partials) {
    let row = await getUpload(env.DB, partial.uploadId);
    // Every byte of a partial is in (the final was only created then): complete it here rather
    // than wait for the consumer's batch window. If the consumer holds the claim, it finishes.
    if (row?.state === "open") row = await completeNow(env, partial.uploadId, Date.now());
    if (row?.state === "open" || row?.state === "completing") return "waiting";
    if (row?.state !== "completed") {
      await abortUpload(env, meta.uploadId, "partial_upload_failed", Date.now());
      return "done";
    }
  }
  const upload = await getUpload(env.DB, meta.uploadId);
  if (upload === null || upload.state !== "open") return "done";
  const length = meta.length ?? 0;
  const count = partsFor(length, meta.partSize);
  const recorded = new Set((await summarizeParts(env.DB, meta.uploadId)).numbers);
  const missing = Array.from({ length: count }, (_, index) => index + 1).filter((n) => !recorded.has(n));
  // The final upload's part count was fixed at its creation, so its parts can go in any order.
  await mapWithConcurrency(missing, COPY_CONCURRENCY, async (partNumber) => {
    const start = (partNumber - 1) * meta.partSize;
    const size = Math.min(meta.partSize, length - start);
    const written = await writePart(env, upload, {
      partNumber,
      body: rangeStream(env.BUCKET, partials, start, size),
      size,
      sha256: null,
      final: partNumber === count,
    });
    await recordPart(env, written);
  });
  // Every byte is in the final upload's parts now: the staged partial objects can go, and the
  // upload is completed right here (the consumer, when its events come, finds it done).
  await env.BUCKET.delete(partials.map((partial) => partial.key));
  await completeNow(env, meta.uploadId, Date.now());
  return "done";
}

/** Bytes [start, start + size) of the partials laid end to end, read from R2 as they are needed. */
function rangeStream(bucket: R2Bucket, partials: Partial[], start: number, size: number): ReadableStream<Uint8Array> {
  const pieces: { key: string; offset: number; length: number }[] = [];
  let at = 0;
  for (const partial of partials) {
    const from = Math.max(start, at);
    const to = Math.min(start + size, at + partial.length);
    if (to > from) pieces.push({ key: partial.key, offset: from - at, length: to - from });
    at += partial.length;
  }
  let current: ReadableStreamDefaultReader<Uint8Array> | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (current === null) {
          const piece = pieces.shift();
          if (piece === undefined) {
            controller.close();
            return;
          }
          const object = await bucket.get(piece.key, { range: { offset: piece.offset, length: piece.length } });
          if (object === null) throw new Error(`staged partial object ${piece.key} is missing`);
          current = object.body.getReader();
        }
        const next = await current.read();
        if (!next.done) {
          controller.enqueue(next.value);
          return;
        }
        current = null;
      }
    },
  });
}
