import type { Context } from "hono";
import { type ProducerConfig, producerConfig } from "../shared/config";
import type { Caller } from "./auth/middleware";
import type { Env } from "./env";

export type AppEnv = { Bindings: Env; Variables: { caller: Caller } };
export type AppContext = Context<AppEnv>;

const configs = new WeakMap<object, ProducerConfig>();

/** The producer's vars, parsed once per environment object. */
export function config(env: Env): ProducerConfig {
  let parsed = configs.get(env);
  if (parsed === undefined) {
    parsed = producerConfig(env);
    configs.set(env, parsed);
  }
  return parsed;
}
