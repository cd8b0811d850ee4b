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
            allowMethods: ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"],
            allowHeaders: [
              "Authorization",
              "Content-Type",
              "Content-Digest",
              "Range",
              "If-None-Match",
              "If-Match",
              // tus (POST/PATCH/HEAD /files/…), and X-HTTP-Method-Override that tus clients may send.
              "Tus-Resumable",
              "Upload-Length",
              "Upload-Defer-Length",
              "Upload-Offset",
              "Upload-Metadata",
              "Upload-Checksum",
              "Upload-Concat",
              "X-HTTP-Method-Override",
              "X-Requested-With",
            ],
            exposeHeaders: [
              "ETag",
              "Location",
              "Content-Range",
              "Content-Length",
              "Retry-After",
              "Accept-Ranges",
              "Tus-Resumable",
              "Tus-Version",
              "Tus-Extension",
              "Tus-Max-Size",
              "Tus-Checksum-Algorithm",
              "Upload-Offset",
              "Upload-Length",
              "Upload-Defer-Length",
              "Upload-Expires",
              "Upload-Metadata",
              "Upload-Concat",
              "Upload-Part-Size",
              "Upload-Token",
            ],
            maxAge: 86_400,
          });
    handlers.set(c.env, handler);
  }
  // Hono's CORS answers every OPTIONS as a preflight; one without Access-Control-Request-Method
  // is not (a tus client asking what the server supports), so the route answers it.
  const preflightLike = c.req.method === "OPTIONS";
  if (handler === null || (preflightLike && c.req.header("access-control-request-method") === undefined)) return next();
  return handler(c, next);
};
