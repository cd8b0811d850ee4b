import { claimReady, finishClaims } from "../shared/completion";
import type { ConsumerConfig } from "../shared/config";
import { objectKeyOf } from "../shared/db/uploads";
import { codeOf } from "../shared/errors";
import type { StreamEvent } from "../shared/messages";
import type { MetricsBindings } from "../shared/metrics";
import { errorMessage } from "../shared/r2-errors";
import { coalesceStream } from "./coalesce";

export type StreamBindings = { DB: D1Database; BUCKET: R2Bucket; UPLOAD_EVENTS: Queue } & MetricsBindings;

/** What to do with the messages that asked for this stream to advance. */
export type StreamOutcome = { kind: "ack" } | { kind: "retry"; delaySeconds: number };

/** How soon to look again when another invocation holds the stream's lease. */
const BUSY_RETRY_SECONDS = 2;

/**
 * Coalesces what a stream has staged and completes it once its final chunk is in a part. Work
 * left over when the budget runs out is handed to a fresh invocation through the queue.
 */
export async function advanceStream(
  bindings: StreamBindings,
  uploadId: string,
  settings: ConsumerConfig,
  now: number,
): Promise<StreamOutcome> {
  try {
    const result = await coalesceStream(bindings, uploadId, now);
    switch (result) {
      case "idle":
        return { kind: "ack" };
      case "busy":
        return { kind: "retry", delaySeconds: BUSY_RETRY_SECONDS };
      case "more": {
        const next: StreamEvent = { type: "stream.continue", uploadId };
        await bindings.UPLOAD_EVENTS.send(next, { contentType: "json" });
        return { kind: "ack" };
      }
      case "ready": {
        const claims = await claimReady(bindings.DB, [uploadId], now);
        const outcomes = await finishClaims(bindings, claims);
        const outcome = outcomes.get(uploadId);
        if (outcome !== undefined)
          console.log(JSON.stringify({ event: `completion_${outcome.kind}`, uploadId, ...outcome }));
        return outcome?.kind === "retry"
          ? { kind: "retry", delaySeconds: settings.retryDelaySeconds }
          : { kind: "ack" };
      }
    }
  } catch (error) {
    console.warn(
      JSON.stringify({
        event: "coalesce_failed",
        uploadId,
        key: await objectKeyOf(bindings.DB, uploadId),
        code: codeOf(error),
        error: errorMessage(error),
      }),
    );
    return { kind: "retry", delaySeconds: settings.retryDelaySeconds };
  }
}
