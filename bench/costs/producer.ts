// Bench-only entry of the producer Worker for the costs benchmark: the real producer
// (producer/index.ts, unchanged) with its real bindings behind the meters of ./meter.ts, and the
// real TusUpload Durable Object class with the same meters on its env. Every D1, R2, queue and
// Durable Object binding is metered, whatever its name (meterEnv). Its config is a temporary
// copy of wrangler.toml whose `main` is this file (bench/suites/costs.mjs writes it).
//
// Bench-only paths, not counted and not product routes:
//   GET  /__costs/usage           -> { requests, byRoute, usage } since the last reset
//   POST /__costs/reset           -> zeroes them
//   GET  /__costs/state?id=ID     -> the upload's row (state, size, failure) read with the raw D1
//   GET  /__costs/object?key=KEY  -> the object's bytes read with the raw R2 binding

import type { Env } from "../../producer/env";
import producer from "../../producer/index";

// Everything the real entry exports (Durable Object classes and all); TusUpload below, the same
// class with the meters on its env, takes the place of the real one.
export * from "../../producer/index";

import { TusUpload as ProductTusUpload } from "../../producer/tus/upload-object";
import { freshUsage, type Meter, meterEnv } from "./meter";

const meter: Meter = { usage: freshUsage() };
let requests = 0;
let byRoute: Record<string, number> = {};

const metered = new WeakMap<Env, Env>();
function meteredEnv(env: Env): Env {
  const known = metered.get(env);
  if (known !== undefined) return known;
  const wrapped = meterEnv(env, meter);
  metered.set(env, wrapped);
  return wrapped;
}

/** The route of a request with its ids taken out: `PUT /uploads/:id/chunks/:n`. */
function routeOf(request: Request): string {
  const { pathname } = new URL(request.url);
  const parts = pathname.split("/").map((segment, i) => {
    if (i < 2) return segment;
    return /^\d+$/.test(segment) ? ":n" : segment.length >= 12 ? ":id" : segment;
  });
  return `${request.method} ${parts.join("/")}`;
}

async function benchRoute(request: Request, env: Env, url: URL): Promise<Response> {
  switch (`${request.method} ${url.pathname}`) {
    case "GET /__costs/usage":
      return Response.json({ requests, byRoute, usage: meter.usage });
    case "POST /__costs/reset":
      meter.usage = freshUsage();
      requests = 0;
      byRoute = {};
      return Response.json({ ok: true });
    case "GET /__costs/state": {
      const row = await env.DB.prepare(
        "SELECT state, object_size, failure_reason, completed_at, last_activity_at FROM uploads WHERE upload_id = ?",
      )
        .bind(url.searchParams.get("id") ?? "")
        .first();
      return Response.json(row);
    }
    case "GET /__costs/object": {
      const object = await env.BUCKET.get(url.searchParams.get("key") ?? "");
      return object === null ? new Response("no such object", { status: 404 }) : new Response(object.body);
    }
    default:
      return new Response("no such bench path", { status: 404 });
  }
}

export class TusUpload extends ProductTusUpload {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, meteredEnv(env));
  }
}

export default {
  fetch(request, env, ctx): Promise<Response> | Response {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/__costs/")) return benchRoute(request, env, url);
    requests++;
    const route = routeOf(request);
    byRoute[route] = (byRoute[route] ?? 0) + 1;
    return producer.fetch(request, meteredEnv(env), ctx);
  },
} satisfies ExportedHandler<Env>;
