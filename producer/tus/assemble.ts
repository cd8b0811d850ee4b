import { abortUpload } from "../../shared/abort";
import { summarizeParts } from "../../shared/db/parts";
import { getUpload } from "../../shared/db/uploads";
import type { Env } from "../env";
import { recordPart, writePart } from "../services/ingest-part";
import { partsFor } from "./protocol";
import type { TusMeta } from "./types";

type Partial = NonNullable<TusMeta["partials"]>[number];

/**
 * Assembles a final upload (concatenation) from its partial uploads: each of its parts is read
 * from the partials' staged objects, whatever their boundaries, and written and recorded like
 * any part, so the consumer completes the final upload as it completes every other. Parts
 * already recorded are skipped, so a retry after a failure goes on where it stopped. "waiting"
 * while a partial is still being completed by the consumer.
 */
export async function assembleFinal(env: Env, meta: TusMeta): Promise<"waiting" | "done"> {
  const partials = meta.partials ?? [];
  for (const partial of partials) {
    const row = await getUpload(env.DB, partial.uploadId);
    if (row?.state === "open" || row?.state === "completing") return "waiting";
    if (row?.state !== "completed") {
      await abortUpload(env, meta.uploadId, "partial_upload_failed", Date.now());
      return "done";
    }
  }
  let upload = await getUpload(env.DB, meta.uploadId);
  if (upload === null || upload.state !== "open") return "done";
  const length = meta.length ?? 0;
  const count = partsFor(length, meta.partSize);
  const recorded = new Set((await summarizeParts(env.DB, meta.uploadId)).numbers);
  for (let partNumber = 1; partNumber <= count; partNumber++) {
    if (recorded.has(partNumber)) continue;
    const start = (partNumber - 1) * meta.partSize;
    const size = Math.min(meta.partSize, length - start);
    const written = await writePart(env, upload, {
      partNumber,
      body: rangeStream(env.BUCKET, partials, start, size),
      size,
      sha256: null,
      final: partNumber === count,
    });
    upload = written.upload;
    await recordPart(env, written);
  }
  // Every byte is in the final upload's parts now: the staged partial objects can go.
  await env.BUCKET.delete(partials.map((partial) => partial.key));
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
