import type { Context, Hono, MiddlewareHandler } from "hono";
import * as z from "zod/mini";
import { ApiError, errors } from "../../shared/errors";
import { authenticate, type Caller } from "../auth/middleware";
import type { AppEnv } from "../context";

type Schema = z.core.$ZodType;
type Fields = z.core.$ZodObject | undefined;
type Out<S> = S extends z.core.$ZodType ? z.output<S> : undefined;

/**
 * Who may call a route. `key`: an API key (or anonymous access, where it is on). `credential`:
 * an API key or the upload's own token. `read`: like `key`, unless PUBLIC_READS is on. `none`:
 * no credential at all.
 */
export type Security = "none" | "key" | "credential" | "read";

export type ResponseSpec = {
  description: string;
  json?: Schema;
  /** A body that is not JSON: the object's bytes. */
  binary?: boolean;
  /** Response headers: name -> description. */
  headers?: Record<string, string>;
};

export type RouteSpec<P extends Fields, Q extends Fields, H extends Fields, B extends Schema | undefined> = {
  method: "get" | "head" | "put" | "post" | "delete" | "patch" | "options";
  /** The OpenAPI path, e.g. `/uploads/{uploadId}`; `{key+}` takes the rest of the path, slashes included. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Security;
  params?: P;
  query?: Q;
  headers?: H;
  /**
   * A JSON body; `optional` bodies may be empty and then read as `{}`. `byHandler`: only some
   * of the route's actions take it, so the handler reads it (with `readJson` and this schema).
   */
  json?: { schema: B; optional?: boolean; byHandler?: boolean };
  /** A raw body streamed through (a part or a chunk); never read by the validator. */
  binary?: { description: string };
  responses: Record<number, ResponseSpec>;
  /** Refusals particular to this route: status -> when. 400/401/403 are added from the inputs and security. */
  errors?: Record<number, string>;
};

export type Input<P, Q, H, B> = { params: Out<P>; query: Out<Q>; headers: Out<H>; body: Out<B>; caller: Caller };

type ParsedInput = { params: unknown; query: unknown; headers: unknown; body: unknown; caller: Caller };

export type Route = {
  spec: RouteSpec<Fields, Fields, Fields, Schema | undefined>;
  handler: (c: Context<AppEnv>, input: ParsedInput) => Response | Promise<Response>;
};

/**
 * Declares a route once: its contract validates every request before the handler runs, and the
 * same object produces the route's OpenAPI operation (see openapi.ts). The handler gets the
 * parsed inputs and the authenticated caller, typed from the schemas.
 */
export function defineRoute<
  P extends Fields,
  Q extends Fields,
  H extends Fields,
  B extends Schema | undefined = undefined,
>(
  spec: RouteSpec<P, Q, H, B>,
  handler: (c: Context<AppEnv>, input: Input<P, Q, H, B>) => Response | Promise<Response>,
): Route {
  // The handler's input type was derived from this very spec; the mount parses exactly that.
  return { spec, handler: handler as Route["handler"] } as Route;
}

const MAX_JSON_BYTES = 64 * 1024;

/** Mounts routes on an app: authentication first, then validation, then the handler. */
export function mount(app: Hono<AppEnv>, routes: Route[]): void {
  // HEAD routes last: they sit on GET (see below), behind any GET route of the same path.
  const ordered = [
    ...routes.filter((r) => r.spec.method !== "head"),
    ...routes.filter((r) => r.spec.method === "head"),
  ];
  for (const route of ordered) {
    const { spec } = route;
    const path = spec.path.replace(/\{(\w+)\+\}/g, ":$1{.+}").replace(/\{(\w+)\}/g, ":$1");
    const validate: MiddlewareHandler<AppEnv> = async (c) => {
      const input = {
        params: spec.params === undefined ? undefined : parse(spec.params, c.req.param(), "path"),
        query: spec.query === undefined ? undefined : parse(spec.query, c.req.query(), "query"),
        headers: spec.headers === undefined ? undefined : parse(spec.headers, headersOf(c.req.raw), "headers"),
        body:
          spec.json === undefined || spec.json.byHandler === true
            ? undefined
            : await readJson(c.req.raw, spec.json.schema, spec.json.optional === true),
        caller: c.var.caller,
      };
      return route.handler(c, input);
    };
    if (spec.method === "head") {
      // Hono routes HEAD requests as GET (and drops the body): a HEAD route sits on GET and
      // refuses the real GETs that reach it (a GET route on the same path answers them first).
      const headOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
        if (c.req.method !== "HEAD") throw errors.routeNotFound(c.req.method, new URL(c.req.url).pathname);
        await next();
      };
      app.on("GET", path, headOnly, authenticate(spec.security), validate);
      continue;
    }
    app.on(spec.method.toUpperCase(), path, authenticate(spec.security), validate);
  }
}

function headersOf(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/** Validates a value against a schema; failures become one 400 that names every bad field. */
export function parse<S extends Schema>(schema: S, value: unknown, where: string): z.output<S> {
  const result = z.safeParse(schema, value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
  const first = issues[0];
  const summary = first === undefined ? "" : `: ${first.path === "" ? "" : `${first.path}: `}${first.message}`;
  throw errors.invalidRequest(`invalid ${where}${summary}`, issues);
}

/** Reads and validates a JSON body of at most 64 KiB; an optional empty body reads as `{}`. */
export async function readJson<S extends Schema | undefined>(
  request: Request,
  schema: S,
  optional: boolean,
): Promise<Out<S>> {
  if (schema === undefined) return undefined as Out<S>;
  if (Number(request.headers.get("content-length") ?? "0") > MAX_JSON_BYTES) throw errors.bodyTooLarge(MAX_JSON_BYTES);
  // Decoded by hand: clients send JSON under any content type, and .text() warns on some of them.
  const text = new TextDecoder().decode(await request.arrayBuffer());
  if (text.length > MAX_JSON_BYTES) throw errors.bodyTooLarge(MAX_JSON_BYTES);
  if (text.trim() === "") {
    if (optional) return parse(schema, {}, "request body") as Out<S>;
    throw new ApiError(400, "invalid_json", "a JSON request body is required");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, "invalid_json", "the request body is not valid JSON");
  }
  return parse(schema, value, "request body") as Out<S>;
}
