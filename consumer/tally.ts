import { finishClaims, leaseCutoff } from "../shared/completion";
import { mapWithConcurrency } from "../shared/concurrency";
import type { ConsumerConfig } from "../shared/config";
import { claimStatements, readClaims } from "../shared/db/claims";
import { bumpCounterStatement, recordActivityStatement, recordPartsStatement } from "../shared/db/parts";
import { codeOf } from "../shared/errors";
import { type NotificationEvent, type PartEvent, QueueMessage } from "../shared/messages";
import { errorMessage } from "../shared/r2-errors";
import { handleNotification, type NotifyBindings, type WebhookSettings } from "./notify";
import { advanceStream, type StreamBindings } from "./streams";

export type TallyBindings = StreamBindings & NotifyBindings;

type Delivery = { message: Message<unknown>; event: PartEvent };
type StreamDelivery = { message: Message<unknown>; uploadId: string };
type NotificationDelivery = { message: Message<unknown>; event: NotificationEvent };

const STREAM_CONCURRENCY = 3;

/**
 * Handles a batch of queue messages. Part events are tallied and every upload the batch made
 * whole is completed: D1 sees two round trips for them whatever the batch size, one batch that
 * records the parts, moves the activity clocks and claims the uploads that are now complete,
 * and one that records the outcomes. Stream events advance the coalescing of their streams.
 */
export async function tallyBatch(
  batch: MessageBatch<unknown>,
  bindings: TallyBindings,
  settings: ConsumerConfig,
  webhook: WebhookSettings,
  now: number = Date.now(),
): Promise<void> {
  const deliveries: Delivery[] = [];
  const streamDeliveries: StreamDelivery[] = [];
  const notificationDeliveries: NotificationDelivery[] = [];
  let malformed = 0;
  for (const message of batch.messages) {
    const parsed = QueueMessage.safeParse(message.body);
    if (!parsed.success) {
      // Retrying a message that can never parse would only feed the dead-letter queue.
      malformed++;
      console.warn(
        JSON.stringify({
          event: "malformed_message",
          messageId: message.id,
          code: "malformed_message",
          issues: parsed.error.issues.length,
        }),
      );
      message.ack();
    } else if (parsed.data.type === "health.ping") {
      // The producer's health check only needed the queue to take it.
      message.ack();
    } else if (parsed.data.type === "part.uploaded") {
      deliveries.push({ message, event: parsed.data });
    } else if ("notification" in parsed.data) {
      notificationDeliveries.push({ message, event: parsed.data });
    } else {
      streamDeliveries.push({ message, uploadId: parsed.data.uploadId });
    }
  }
  await tallyParts(deliveries, malformed, bindings, settings, now);
  if (streamDeliveries.length > 0) await advanceStreams(streamDeliveries, bindings, settings, now);
  for (const { message, event } of notificationDeliveries) {
    await handleNotification(message, event, bindings, webhook, settings.retryDelaySeconds);
  }
}

async function tallyParts(
  deliveries: Delivery[],
  malformed: number,
  bindings: TallyBindings,
  settings: ConsumerConfig,
  now: number,
): Promise<void> {
  const { DB: db } = bindings;
  const events = deliveries.map((delivery) => delivery.event);
  const uploadIds = [...new Set(events.map((event) => event.uploadId))];
  const statements: D1PreparedStatement[] = [];
  if (malformed > 0) statements.push(bumpCounterStatement(db, "malformed_messages", malformed));
  const claimsAt = statements.length + 2;
  if (events.length > 0) {
    statements.push(
      recordPartsStatement(db, events, now),
      recordActivityStatement(db, events, now),
      ...claimStatements(db, uploadIds, crypto.randomUUID(), now, leaseCutoff(now)),
    );
  }
  if (statements.length === 0) return;

  const retry = (items: Delivery[], why: string, error?: unknown) => {
    if (items.length === 0) return;
    const uploads = new Map(items.map(({ event }) => [event.uploadId, event.key]));
    console.warn(
      JSON.stringify({
        event: "retrying_messages",
        why,
        code: error === undefined ? why : codeOf(error),
        count: items.length,
        uploadIds: [...uploads.keys()],
        keys: [...uploads.values()],
        error: error === undefined ? undefined : errorMessage(error),
      }),
    );
    for (const { message } of items) message.retry({ delaySeconds: settings.retryDelaySeconds });
  };

  let results: D1Result[];
  try {
    results = await db.batch(statements);
  } catch (error) {
    retry(deliveries, "tally_failed", error);
    return;
  }
  if (events.length === 0) return;

  const [claimedUploads, claimedParts] = [results[claimsAt + 1], results[claimsAt + 2]];
  if (claimedUploads === undefined || claimedParts === undefined) throw new Error("D1 batch returned too few results");
  const claims = readClaims(claimedUploads, claimedParts);
  const claimedIds = new Set(claims.map((claim) => claim.upload.upload_id));

  let retryIds: Set<string>;
  try {
    const outcomes = await finishClaims(bindings, claims);
    retryIds = new Set([...outcomes].filter(([, outcome]) => outcome.kind === "retry").map(([id]) => id));
    for (const [uploadId, outcome] of outcomes) {
      console.log(JSON.stringify({ event: `completion_${outcome.kind}`, uploadId, ...outcome }));
    }
  } catch (error) {
    // The claims stay in place; redelivery after the lease, or the cron, takes them over.
    retryIds = claimedIds;
    for (const { upload } of claims) {
      console.error(
        JSON.stringify({
          event: "completion_error",
          uploadId: upload.upload_id,
          key: upload.object_key,
          code: codeOf(error),
          error: errorMessage(error),
        }),
      );
    }
  }

  const toRetry = deliveries.filter((delivery) => retryIds.has(delivery.event.uploadId));
  retry(toRetry, "completion_retry");
  for (const delivery of deliveries) {
    if (!retryIds.has(delivery.event.uploadId)) delivery.message.ack();
  }
}

/** Advances every stream named in the batch, once each however many of its events came. */
async function advanceStreams(
  deliveries: StreamDelivery[],
  bindings: TallyBindings,
  settings: ConsumerConfig,
  now: number,
): Promise<void> {
  const uploadIds = [...new Set(deliveries.map((delivery) => delivery.uploadId))];
  const outcomes = await mapWithConcurrency(uploadIds, STREAM_CONCURRENCY, (uploadId) =>
    advanceStream(bindings, uploadId, settings, now),
  );
  const byUpload = new Map(uploadIds.map((uploadId, index) => [uploadId, outcomes[index]]));
  for (const { message, uploadId } of deliveries) {
    const outcome = byUpload.get(uploadId);
    if (outcome?.kind === "retry") message.retry({ delaySeconds: outcome.delaySeconds });
    else message.ack();
  }
}
