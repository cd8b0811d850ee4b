import { consumerConfig } from "../shared/config";
import { sweep } from "./sweep";
import { tallyBatch } from "./tally";

export default {
  async queue(batch, env) {
    await tallyBatch(batch, env, consumerConfig(env as unknown as Record<string, unknown>));
  },
  async scheduled(controller, env) {
    const report = await sweep(env, consumerConfig(env as unknown as Record<string, unknown>), controller.scheduledTime);
    console.log(JSON.stringify({ event: "sweep", ...report }));
  },
} satisfies ExportedHandler<Env, unknown>;
