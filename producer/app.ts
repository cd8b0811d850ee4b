import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { ApiError, codeOf, errors } from "../shared/errors";
import { errorMessage } from "../shared/r2-errors";
import type { AppEnv } from "./context";
import { corsForConfiguredOrigins } from "./cors";
import { mount } from "./http/route";
import { compatApp } from "./routes/compat/app";
import { nativeRoutes } from "./routes/index";
import { tusProtocol, tusRewrite } from "./routes/tus/common";

/** The execution context, where the runtime gave one (a test may call fetch without it). */
function executionContextOf(c: Context<AppEnv>) {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}

/** Every error becomes the one JSON error body; anything unexpected is logged and answered 500. */
function errorResponse(err: unknown, c: Context<AppEnv>): Response {
  if (err instanceof ApiError) return c.json(err.toBody(), err.status, err.headers);
  if (err instanceof HTTPException && err.status >= 400 && err.status < 500) {
    return c.json(new ApiError(400, "bad_request", err.message).toBody(), 400);
  }
  console.error(
    JSON.stringify({
      event: "unhandled_error",
      path: c.req.path,
      code: "internal_error",
      cause: codeOf(err),
      error: errorMessage(err),
    }),
  );
  return c.json(new ApiError(500, "internal_error", "an unexpected error occurred").toBody(), 500);
}

const compat = compatApp(errorResponse);

export const app = new Hono<AppEnv>();
app.use("*", corsForConfiguredOrigins);
// Requests with `?action=` belong to the seed-compatible API, whatever their path.
app.use("*", async (c, next) => {
  if (c.req.query("action") === undefined) return next();
  return compat.fetch(c.req.raw, c.env);
});
// tus: X-HTTP-Method-Override and the bare /files first; every request names the protocol
// version, every answer too.
const tusDispatch = tusRewrite((request, c) => app.fetch(request, c.env, executionContextOf(c)));
app.use("/files", tusDispatch);
app.use("/files/*", tusDispatch, tusProtocol);
mount(app, nativeRoutes);
app.notFound(async (c) => {
  // A GET or HEAD the API has no route for may be the console's: index.html, its scripts and
  // styles. They live in the console Worker (web/wrangler.toml), so the API itself runs without
  // the static-asset router in front of every chunk and part. A deployment without the console
  // (no CONSOLE binding) answers these with the 404 below.
  const webConsole = c.env.CONSOLE;
  if (webConsole !== undefined && (c.req.method === "GET" || c.req.method === "HEAD")) {
    const asset = await webConsole.fetch(c.req.raw);
    if (asset.status !== 404) return asset;
  }
  return errorResponse(errors.routeNotFound(c.req.method, new URL(c.req.url).pathname), c);
});
app.onError(errorResponse);
