import { completeNow } from "../../shared/completion";
import { recordStreamEnd } from "../../shared/db/streams";
import { fixExpectedParts, getUpload } from "../../shared/db/uploads";
import { codeOf } from "../../shared/errors";
import { errorMessage } from "../../shared/r2-errors";
import type { Bindings } from "../services/bindings";
import { recordPart, writePart } from "../services/ingest-part";
import type { PartPlan } from "./types";

type PartBytes = Uint8Array | ReadableStream<Uint8Array>;

/** Where the bytes of the parts come from: the stream's object, through its stub or itself. */
export type PartSource = {
  partBytes(lease: string): PartBytes | Promise<PartBytes>;
  commitPart(lease: string): PartPlan | null | Promise<PartPlan | null>;
  abandon(lease: string, why: "budget" | "failed"): Promise<void>;
  ended(): Promise<void>;
};

/**
 * Parts one request writes at most, and bytes (at least one part): a request's background work
 * has about 30 s after its answer. The rest is left to the next request or the object's alarm.
 */
export const PARTS_PER_REQUEST = 4;
export const PART_BYTES_PER_REQUEST = 64 * 1024 * 1024;

/**
 * Writes ready parts of a stream into its R2 multipart upload and records each like any other
 * part (D1, then the part event the consumer tallies), then commits it in the stream's object.
 * The last part fixes the part count first, so the consumer completes once it is tallied; an
 * empty last chunk on a part boundary leaves no part to write, so the upload completes here.
 * A failure frees the lease and leaves the part to the object's alarm: the chunk that asked is
 * stored either way. It runs after the answer, where nobody could catch an error: it rejects
 * only when completing inline (the alarm's case) fails, and the alarm then runs again.
 */
export async function flushParts(
  env: Bindings,
  source: PartSource,
  stream: { uploadId: string; key: string },
  first: PartPlan,
  /**
   * The object's alarm sets this: its part events go on the queue like any other, but nobody
   * waits on a request there, so once the last part is recorded it completes the upload itself
   * (claiming it, as the consumer would; whoever comes second finds it done).
   */
  completeInline = false,
  budget = PARTS_PER_REQUEST,
): Promise<void> {
  const { uploadId } = stream;
  let plan: PartPlan | null = first;
  const deferred = async (failed: PartPlan, error: unknown) => {
    console.warn(
      JSON.stringify({
        event: "stream_part_deferred",
        uploadId,
        key: stream.key,
        partNumber: failed.partNumber,
        code: codeOf(error),
        error: errorMessage(error),
      }),
    );
    // Unless the object is unreachable too; then its lease runs out and its alarm takes over.
    await source.abandon(failed.lease, "failed").catch(() => undefined);
  };
  for (let written = 0, bytes = 0; plan !== null; written++) {
    if (written >= budget || (written > 0 && bytes + plan.size > PART_BYTES_PER_REQUEST)) {
      await source.abandon(plan.lease, "budget").catch(() => undefined);
      return;
    }
    const current: PartPlan = plan;
    try {
      await writeOne(env, source, uploadId, current);
    } catch (error) {
      await deferred(current, error);
      return;
    }
    bytes += current.size;
    try {
      plan = await source.commitPart(current.lease);
    } catch (error) {
      // The part is in R2 and D1; writing it again under a new lease is harmless.
      await deferred(current, error);
      return;
    }
    if (current.last) {
      // Unheard, the object forgets the ended stream at its next alarm instead.
      await source.ended().catch(() => undefined);
      if (completeInline) await completeNow(env, uploadId, Date.now());
    }
  }
}

async function writeOne(env: Bindings, source: PartSource, uploadId: string, plan: PartPlan): Promise<void> {
  const row = await getUpload(env.DB, uploadId);
  if (row === null) throw new Error(`stream ${uploadId} has no upload row`);
  if (plan.last) await recordStreamEnd(env.DB, uploadId, plan.finalChunk ?? 0, plan.committedBytes);
  if (plan.last && plan.size === 0 && plan.partNumber > 1) {
    // Every byte is in the parts already written: fix the count and complete now.
    await fixExpectedParts(env.DB, uploadId, plan.partNumber - 1, Date.now());
    await completeNow(env, uploadId, Date.now());
    return;
  }
  const written = await writePart(
    env,
    row,
    {
      partNumber: plan.partNumber,
      body: await source.partBytes(plan.lease),
      size: plan.size,
      sha256: null,
      final: plan.last,
    },
    "stream",
  );
  await recordPart(env, written);
}
