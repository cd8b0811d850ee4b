/**
 * The consumer's env: the interface `npm run types` generates from consumer/wrangler.toml
 * (ConsumerEnv), with what a deployment may leave out declared optional. The generated file
 * marks WEBHOOK_SECRET required because consumer/.dev.vars sets it for development, and knows
 * nothing of NOTIFICATIONS until someone uncomments its binding. METRICS may be left out of a
 * deployment's config: shared/metrics.ts then writes nothing.
 */
export type Env = Omit<ConsumerEnv, "WEBHOOK_SECRET" | "NOTIFICATIONS" | "METRICS"> & {
  METRICS?: AnalyticsEngineDataset;
  /** Signs webhook deliveries; without it they go unsigned. */
  WEBHOOK_SECRET?: string;
  /** The optional downstream queue that hears of every upload that ends. */
  NOTIFICATIONS?: Queue;
};
