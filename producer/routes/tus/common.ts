import type { MiddlewareHandler } from "hono";
import * as z from "zod/mini";
import { ApiError } from "../../../shared/errors";
import { type AppContext, type AppEnv, config } from "../../context";
import { httpDate, TUS_VERSION } from "../../tus/protocol";
import type { TusSnapshot } from "../../tus/types";

/**
 * What tus asks of a server before routing: `X-HTTP-Method-Override` is the request's method
 * (for clients behind proxies that only pass GET and POST), and `/files` is the creation URL
 * as much as `/files/`. Such a request is answered as the request it stands for.
 */
export function tusRewrite(
  dispatch: (request: Request, c: AppContext) => Response | Promise<Response>,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const override = c.req.header("x-http-method-override")?.trim().toUpperCase();
    const url = new URL(c.req.url);
    const bare = url.pathname === "/files";
    if (override === undefined && !bare) return next();
    if (bare) url.pathname = "/files/";
    const method = override ?? c.req.method;
    const headers = new Headers(c.req.raw.headers);
    headers.delete("x-http-method-override");
    const body = method === "GET" || method === "HEAD" ? null : c.req.raw.body;
    return dispatch(new Request(url, { method, headers, body }), c);
  };
}

/** Every tus request but OPTIONS names the protocol version; every tus answer does too. */
export const tusProtocol: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "OPTIONS" && c.req.header("tus-resumable") !== TUS_VERSION) {
    const error = new ApiError(
      412,
      "unsupported_version",
      `this server speaks tus ${TUS_VERSION}: send Tus-Resumable: ${TUS_VERSION}`,
    );
    const headers = { "Tus-Version": TUS_VERSION, "Tus-Resumable": TUS_VERSION };
    return c.req.method === "HEAD" ? c.body(null, 412, headers) : c.json(error.toBody(), 412, headers);
  }
  await next();
  c.res.headers.set("Tus-Resumable", TUS_VERSION);
};

const header = (description: string) => z.optional(z.string().check(z.meta({ description })));

export const TusHeaders = z.object({
  "tus-resumable": z.literal(TUS_VERSION).check(z.meta({ description: "The tus version: 1.0.0" })),
});

export const UploadHeaders = z.object({
  ...TusHeaders.shape,
  "upload-length": header("The upload's size in bytes"),
  "upload-defer-length": header("`1`: the size is not known yet (sent later with Upload-Length)"),
  "upload-metadata": header("`key base64value` pairs: `key` (object key), `filename`, `filetype`, anything else"),
  "upload-concat": header("`partial`, or `final;<url> <url> ...` to concatenate partial uploads"),
  "upload-checksum": header("`<algorithm> <base64>` of this request's bytes (sha1, sha256, sha384, sha512, md5)"),
  "content-type": header("`application/offset+octet-stream` when the request carries bytes"),
  "content-length": header("The bytes in this request"),
});

export const PatchHeaders = z.object({
  ...TusHeaders.shape,
  "upload-offset": z.string().check(z.meta({ description: "Where these bytes go: the upload's current offset" })),
  "upload-length": header("The upload's size, once known, for a deferred upload"),
  "upload-checksum": header("`<algorithm> <base64>` of this request's bytes (sha1, sha256, sha384, sha512, md5)"),
  "content-type": z.string().check(z.meta({ description: "`application/offset+octet-stream`" })),
  "content-length": header("The bytes in this request"),
});

export const IdParams = z.object({ uploadId: z.string().check(z.minLength(1), z.maxLength(64)) });

export const tusResponseHeaders = {
  "Tus-Resumable": "1.0.0",
  "Upload-Offset": "Bytes the server holds",
  "Upload-Expires": "When the upload expires unless more bytes arrive (RFC 9110 date)",
};

/** The headers that describe an upload's progress, for PATCH, HEAD and creation answers. */
export function progressHeaders(c: AppContext, snapshot: TusSnapshot): void {
  c.header("Upload-Offset", String(snapshot.offset));
  c.header("Upload-Part-Size", String(snapshot.meta.partSize));
  if (snapshot.offset !== snapshot.meta.length) c.header("Upload-Expires", httpDate(snapshot.meta.expiresAt));
}

/** The upload URL of an id, absolute, as Location carries it. */
export const uploadUrl = (c: AppContext, uploadId: string) => new URL(`/files/${uploadId}`, c.req.url).href;

export const settingsOf = (c: AppContext) => config(c.env);
