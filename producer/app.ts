import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { ApiError } from "../shared/errors";
import { errorMessage } from "../shared/r2-errors";
import type { AppEnv } from "./context";
import { corsForConfiguredOrigins } from "./cors";
import { chunks } from "./routes/chunks";
import { compatRouter } from "./routes/compat";
import { objects } from "./routes/objects";
import { openApiDocument } from "./routes/openapi";
import { uploads } from "./routes/uploads";

export const app = new Hono<AppEnv>();

app.use("*", corsForConfiguredOrigins);
app.use("*", compatRouter);
app.route("/uploads", uploads);
app.route("/uploads", chunks);
app.route("/objects", objects);
app.get("/openapi.json", (c) => c.json(openApiDocument()));

app.notFound((c) => {
  const error = new ApiError(404, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  return c.json(error.toBody(), 404);
});

app.onError((err, c) => {
  if (err instanceof ApiError) return c.json(err.toBody(), err.status, err.headers);
  if (err instanceof HTTPException) {
    const status = err.status;
    const body = new ApiError(400, "bad_request", err.message).toBody();
    return c.json(body, status >= 400 && status < 500 ? (status as 400) : 400);
  }
  console.error(JSON.stringify({ event: "unhandled_error", path: c.req.path, error: errorMessage(err) }));
  return c.json(new ApiError(500, "internal_error", "an unexpected error occurred").toBody(), 500);
});
