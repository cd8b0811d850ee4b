// What the dead-letter tests share: a pipeline (producer and consumer on the real local bindings)
// whose consumer also gets batches of the dead-letter queue, and the operator's API calls.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import consumer from "../../consumer/index";
import type { DeadLetter, DeadLetterList, DeadLetterReplay } from "../../shared/dead-letter-schemas";
import { notificationFor } from "../../shared/notifications";
import { DEV_KEY, Pipeline } from "./helpers";

export const DLQ = "ingest-events-dlq";

/** A pipeline with no dead letter stored yet. */
export async function freshPipeline(): Promise<Pipeline> {
  await env.DB.prepare("DELETE FROM dead_letters").run();
  return new Pipeline();
}

/** Delivers bodies to the consumer as one batch of the dead-letter queue; ids default to fresh ones. */
export async function deliverDead(
  bodies: unknown[],
  options: { ids?: string[]; db?: D1Database; attempts?: number } = {},
) {
  const batch = createMessageBatch<unknown>(
    DLQ,
    bodies.map((body, index) => ({
      id: options.ids?.[index] ?? `dead-${crypto.randomUUID()}`,
      timestamp: new Date(Date.now() - 60_000),
      attempts: options.attempts ?? 1,
      body,
    })),
  );
  await consumer.queue(batch, { ...env, DB: options.db ?? env.DB });
  return getQueueResult(batch, createExecutionContext());
}

/** The operator's side: the dead-letter routes of the pipeline's producer, as one API key. */
export function operator(pipeline: Pipeline) {
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const list = (query = "", key = DEV_KEY) =>
    pipeline.json<DeadLetterList>(`/dead-letters${query === "" ? "" : `?${query}`}`, { headers: auth(key) });
  return {
    list,
    replay: (id: string, key = DEV_KEY) =>
      pipeline.json<DeadLetterReplay>(`/dead-letters/${id}/replay`, { method: "POST", headers: auth(key) }),
    discard: (id: string, key = DEV_KEY) =>
      pipeline.json<DeadLetter>(`/dead-letters/${id}`, { method: "DELETE", headers: auth(key) }),
    /** The one dead letter stored for a message id. */
    async stored(messageId: string): Promise<DeadLetter> {
      const { body } = await list();
      const found = body.items.filter((item) => item.messageId === messageId);
      expect(found).toHaveLength(1);
      return found[0] as DeadLetter;
    },
  };
}

/** A webhook delivery of an aborted upload, as the consumer queues it. */
export const webhookDelivery = (uploadId: string, key: string) => ({
  type: "webhook.deliver",
  notification: notificationFor({ upload_id: uploadId, object_key: key, outcome: "aborted", reason: "client" }, 0),
});
