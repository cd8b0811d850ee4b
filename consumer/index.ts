import { consumerConfig } from "../shared/config";
import { withPointBudget } from "../shared/metrics";
import { storeDeadLetters } from "./dead-letters";
import type { Env } from "./env";
import { sweep } from "./sweep";
import { tallyBatch } from "./tally";

/**
 * The consumer Worker: queue batches are tallied (consumer/tally.ts), batches of the dead-letter
 * queue are stored for an operator (consumer/dead-letters.ts), the cron sweeps
 * (consumer/sweep.ts). Message bodies are `unknown` here on purpose: the queue may carry
 * anything, and the tally validates every body, acking and counting the malformed ones.
 */
export default {
  async queue(batch, env) {
    const settings = consumerConfig(env);
    if (batch.queue === settings.deadLetterQueue) {
      await storeDeadLetters(batch, env.DB, settings.retryDelaySeconds);
      return;
    }
    // A batch of 100 messages can end 100 uploads; a cron run, hundreds: AE takes 250 points.
    await tallyBatch(batch, withPointBudget(env), settings, {
      url: settings.webhookUrl,
      secret: env.WEBHOOK_SECRET === undefined || env.WEBHOOK_SECRET === "" ? null : env.WEBHOOK_SECRET,
      retryBaseSeconds: settings.webhookRetryBaseSeconds,
    });
  },
  async scheduled(controller, env) {
    const report = await sweep(withPointBudget(env), consumerConfig(env), controller.scheduledTime);
    console.log(JSON.stringify({ event: "sweep", ...report }));
  },
} satisfies ExportedHandler<Env, unknown>;
