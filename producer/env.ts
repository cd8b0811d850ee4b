/**
 * The producer's env: the interface `npm run types` generates from wrangler.toml (ProducerEnv),
 * with the secrets a deployment may leave unset declared optional. The generated file marks
 * them required only because .dev.vars sets them for development; METRICS is optional because
 * a deployment may drop the Analytics Engine binding (shared/metrics.ts then writes nothing),
 * and CONSOLE because it may drop the console (docs/operations.md).
 */
export type Env = Omit<ProducerEnv, "API_KEYS" | "TOKEN_SECRET" | "METRICS" | "CONSOLE"> & {
  METRICS?: AnalyticsEngineDataset;
  /** The console Worker (web/wrangler.toml); without it the API is served alone. */
  CONSOLE?: Fetcher;
  /** JSON array of API keys; without it only anonymous access (if allowed) works. */
  API_KEYS?: string;
  /** HS256 key for upload tokens; without it no tokens are issued. */
  TOKEN_SECRET?: string;
};
