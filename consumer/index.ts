import { consumerConfig } from "../shared/config";
import type { WebhookSettings } from "./notify";
import { sweep } from "./sweep";
import { tallyBatch } from "./tally";

/** The downstream queue is optional: bind NOTIFICATIONS in consumer/wrangler.toml to get one. */
function notificationsQueue(env: Env): Queue | undefined {
  const binding = (env as unknown as Record<string, unknown>).NOTIFICATIONS;
  return binding === undefined ? undefined : (binding as Queue);
}

function webhookSettings(env: Env, url: string | null, retryBaseSeconds: number): WebhookSettings {
  const secret = (env as unknown as Record<string, unknown>).WEBHOOK_SECRET;
  return { url, secret: typeof secret === "string" && secret !== "" ? secret : null, retryBaseSeconds };
}

export default {
  async queue(batch, env) {
    const settings = consumerConfig(env as unknown as Record<string, unknown>);
    await tallyBatch(
      batch,
      { ...env, NOTIFICATIONS: notificationsQueue(env) },
      settings,
      webhookSettings(env, settings.webhookUrl, settings.webhookRetryBaseSeconds),
    );
  },
  async scheduled(controller, env) {
    const report = await sweep(env, consumerConfig(env as unknown as Record<string, unknown>), controller.scheduledTime);
    console.log(JSON.stringify({ event: "sweep", ...report }));
  },
} satisfies ExportedHandler<Env, unknown>;
