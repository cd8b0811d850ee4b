import type { Context } from "hono";
import { producerConfig, type ProducerConfig } from "../shared/config";

export type AppEnv = { Bindings: Env };
export type AppContext = Context<AppEnv>;

const configs = new WeakMap<object, ProducerConfig>();

/** The producer's vars, parsed once per environment object. */
export function config(env: Env): ProducerConfig {
  let parsed = configs.get(env);
  if (parsed === undefined) {
    parsed = producerConfig(env as unknown as Record<string, unknown>);
    configs.set(env, parsed);
  }
  return parsed;
}
