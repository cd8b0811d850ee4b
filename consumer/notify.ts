import { codeOf } from "../shared/errors";
import type { NotificationEvent } from "../shared/messages";
import { errorMessage } from "../shared/r2-errors";
import { signWebhook } from "../shared/webhook-signature";

export type NotifyBindings = { UPLOAD_EVENTS: Queue; NOTIFICATIONS?: Queue };

export type WebhookSettings = {
  url: string | null;
  secret: string | null;
  retryBaseSeconds: number;
};

const MAX_BACKOFF_SECONDS = 3600;

/**
 * Fans an ended upload out to the optional NOTIFICATIONS queue and, when a webhook is set up,
 * to a separate `webhook.deliver` message, so that webhook retries never repeat the queue
 * notification. Failures retry the message; the upload itself is long settled.
 */
export async function handleNotification(
  message: Message<unknown>,
  event: NotificationEvent,
  bindings: NotifyBindings,
  webhook: WebhookSettings,
  retryDelaySeconds: number,
  fetcher: typeof fetch = fetch,
): Promise<void> {
  try {
    if (event.type === "upload.ended") {
      await bindings.NOTIFICATIONS?.send(event.notification, { contentType: "json" });
      if (webhook.url !== null) {
        const delivery: NotificationEvent = { type: "webhook.deliver", notification: event.notification };
        await bindings.UPLOAD_EVENTS.send(delivery, { contentType: "json" });
      }
      message.ack();
      return;
    }
    if (webhook.url === null) {
      message.ack();
      return;
    }
    const delivered = await deliverWebhook(webhook.url, webhook.secret, event, fetcher);
    if (delivered) {
      message.ack();
    } else {
      message.retry({ delaySeconds: backoff(webhook.retryBaseSeconds, message.attempts) });
    }
  } catch (error) {
    console.warn(
      JSON.stringify({
        event: "notification_failed",
        id: event.notification.id,
        uploadId: event.notification.uploadId,
        key: event.notification.key,
        code: codeOf(error),
        error: errorMessage(error),
      }),
    );
    message.retry({
      delaySeconds:
        event.type === "webhook.deliver" ? backoff(webhook.retryBaseSeconds, message.attempts) : retryDelaySeconds,
    });
  }
}

async function deliverWebhook(
  url: string,
  secret: string | null,
  event: NotificationEvent,
  fetcher: typeof fetch,
): Promise<boolean> {
  const body = JSON.stringify(event.notification);
  // Standard Webhooks headers. The id is the notification's, so every retry (and every duplicate
  // the queue delivers) carries the same one; the timestamp is this attempt's, signed afresh.
  const id = event.notification.id;
  const timestamp = Math.floor(Date.now() / 1000);
  // A malformed whsec_ secret throws here: logged as notification_failed and retried with backoff.
  const standard =
    secret === null
      ? { "webhook-id": id, "webhook-timestamp": String(timestamp) }
      : await signWebhook(secret, { id, timestamp, body });
  const headers = { "content-type": "application/json", ...standard };
  const response = await fetcher(url, { method: "POST", headers, body });
  await response.body?.cancel();
  if (!response.ok) {
    console.warn(
      JSON.stringify({
        event: "webhook_refused",
        id: event.notification.id,
        uploadId: event.notification.uploadId,
        key: event.notification.key,
        code: "webhook_refused",
        status: response.status,
      }),
    );
  }
  return response.ok;
}

/** Exponential: base, 2x base, 4x base, ... capped at an hour. */
export function backoff(baseSeconds: number, attempts: number): number {
  return Math.min(MAX_BACKOFF_SECONDS, baseSeconds * 2 ** Math.max(0, attempts - 1));
}
