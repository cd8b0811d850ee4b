import type { Env } from "./env";
import type { Context } from "hono";
import { producerConfig, type ProducerConfig } from "../shared/config";
import type { Caller } from "./auth/middleware";

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
