import { type DeadMessage, storeDeadLettersStatements } from "../shared/db/dead-letters";
import { newUploadId } from "../shared/ids";
import { errorMessage } from "../shared/r2-errors";

/**
 * The dead-letter queue's consumer: every message the pipeline's queue gave up on is stored in
 * D1 (one db.batch per batch, whatever its size), logged, and acked. Storing is idempotent on the
 * queue's message id, so a dead message delivered twice is one dead letter seen twice. When D1
 * refuses, the batch is retried; the dead-letter queue has no dead-letter queue of its own.
 */
export async function storeDeadLetters(
  batch: MessageBatch<unknown>,
  db: D1Database,
  retryDelaySeconds: number,
  now: number = Date.now(),
): Promise<void> {
  const dead = batch.messages.map((message) => deadMessage(message, batch.queue));
  try {
    await db.batch(storeDeadLettersStatements(db, dead, now));
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "dead_letter_store_failed",
        code: "database_unavailable",
        queue: batch.queue,
        count: dead.length,
        error: errorMessage(error),
      }),
    );
    batch.retryAll({ delaySeconds: retryDelaySeconds });
    return;
  }
  for (const [index, message] of batch.messages.entries()) {
    const { messageId, queue, type, uploadId, key } = dead[index] as DeadMessage;
    // An error, not a warning: the pipeline gave up on this message, and someone should look.
    console.error(
      JSON.stringify({
        event: "dead_letter",
        code: "dead_letter",
        messageId,
        queue,
        type,
        uploadId,
        key,
        attempts: message.attempts,
      }),
    );
    message.ack();
  }
}

/** What the row keeps of a message: its body as JSON, and what it says about its upload. */
function deadMessage(message: Message<unknown>, queue: string): DeadMessage {
  const body = message.body;
  const fields = isRecord(body) ? body : {};
  const notification = isRecord(fields.notification) ? fields.notification : {};
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : null);
  return {
    // The same random 22-character ids as uploads: URL-safe, never read as a CLI option.
    id: newUploadId(),
    messageId: message.id,
    queue,
    body: asJson(body),
    type: text(fields.type),
    uploadId: text(fields.uploadId) ?? text(notification.uploadId),
    key: text(fields.key) ?? text(notification.key),
    sentAt: message.timestamp instanceof Date ? message.timestamp.getTime() : null,
  };
}

/** The body as JSON text; what JSON cannot carry (undefined, a BigInt in a v8 body) is kept as text. */
function asJson(body: unknown): string {
  try {
    return JSON.stringify(body) ?? "null";
  } catch {
    return JSON.stringify(String(body));
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
