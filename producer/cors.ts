import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { type AppEnv, config } from "./context";

const handlers = new WeakMap<object, MiddlewareHandler<AppEnv> | null>();

/** CORS for browser clients, for the origins in CORS_ORIGINS; nothing at all when it is empty. */
export const corsForConfiguredOrigins: MiddlewareHandler<AppEnv> = async (c, next) => {
  let handler = handlers.get(c.env);
  if (handler === undefined) {
    const origins = config(c.env).corsOrigins;
    handler =
      origins.length === 0
        ? null
        : cors({
            origin: origins.includes("*") ? "*" : origins,
            allowMethods: ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"],
            allowHeaders: ["Authorization", "Content-Type", "Content-Digest", "Range", "If-None-Match", "If-Match"],
            exposeHeaders: ["ETag", "Location", "Content-Range", "Content-Length", "Retry-After", "Accept-Ranges"],
            maxAge: 86_400,
          });
    handlers.set(c.env, handler);
  }
  return handler === null ? next() : handler(c, next);
};
