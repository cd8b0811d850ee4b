import { ApiError, errors } from "../../shared/errors";
import { R2Code, r2ErrorCode } from "../../shared/r2-errors";

/**
 * Serves a finished object from R2: HTTP metadata, one byte range, conditional requests. R2
 * evaluates the conditions itself; malformed conditional headers are ignored as HTTP says.
 */
export async function readObject(bucket: R2Bucket, key: string, request: Headers, head: boolean): Promise<Response> {
  const headers = validConditionalHeaders(request);
  let object: R2Object | R2ObjectBody | null;
  try {
    object = head
      ? await bucket.head(key)
      : await bucket.get(key, { onlyIf: headers, range: headers.has("range") ? headers : undefined });
  } catch (error) {
    if (r2ErrorCode(error) === R2Code.invalidRange) throw rangeNotSatisfiable(null);
    throw error;
  }
  if (object === null) throw errors.objectNotFound(key);

  const responseHeaders = objectHeaders(object);
  if (head) {
    responseHeaders.set("content-length", String(object.size));
    return new Response(null, { headers: responseHeaders });
  }
  if (!hasBody(object)) {
    // R2 evaluated the conditional headers and held the body back.
    if (headers.has("if-none-match") || headers.has("if-modified-since")) {
      return new Response(null, { status: 304, headers: responseHeaders });
    }
    throw new ApiError(412, "precondition_failed", "the object does not match the request's preconditions");
  }
  const firstAsked = firstByteAsked(headers.get("range"));
  if (firstAsked !== null && firstAsked >= object.size && object.size > 0) {
    await object.body.cancel();
    throw rangeNotSatisfiable(object.size);
  }
  const range = byteRange(object);
  if (range === null) {
    responseHeaders.set("content-length", String(object.size));
    return new Response(object.body, { headers: responseHeaders });
  }
  responseHeaders.set("content-range", `bytes ${range.first}-${range.last}/${object.size}`);
  responseHeaders.set("content-length", String(range.last - range.first + 1));
  return new Response(object.body, { status: 206, headers: responseHeaders });
}

function hasBody(object: R2Object | R2ObjectBody): object is R2ObjectBody {
  return "body" in object;
}

function rangeNotSatisfiable(size: number | null): ApiError {
  return new ApiError(
    416,
    "range_not_satisfiable",
    "the requested range is outside the object",
    undefined,
    size === null ? {} : { "Content-Range": `bytes */${size}` },
  );
}

const ENTITY_TAGS = /^\s*(\*|(W\/)?"[^"]*"(\s*,\s*(W\/)?"[^"]*")*)\s*$/;
const SINGLE_BYTE_RANGE = /^bytes=(\d+-\d*|-\d+)$/;

/**
 * The conditional and range headers R2 is to evaluate, keeping only well-formed ones: HTTP says
 * to ignore a malformed one, and R2 would reject the whole request over it.
 */
function validConditionalHeaders(request: Headers): Headers {
  const valid = new Headers();
  const copyIf = (name: string, isValid: (value: string) => boolean) => {
    const value = request.get(name);
    if (value !== null && isValid(value)) valid.set(name, value);
  };
  copyIf("if-match", (value) => ENTITY_TAGS.test(value));
  copyIf("if-none-match", (value) => ENTITY_TAGS.test(value));
  copyIf("if-modified-since", (value) => !Number.isNaN(Date.parse(value)));
  copyIf("if-unmodified-since", (value) => !Number.isNaN(Date.parse(value)));
  copyIf("range", (value) => SINGLE_BYTE_RANGE.test(value.trim()));
  return valid;
}

/** The first byte a `bytes=first-...` range asks for; null for suffix ranges and no range. */
function firstByteAsked(range: string | null): number | null {
  const match = range === null ? null : /^bytes=(\d+)-/.exec(range.trim());
  return match?.[1] === undefined ? null : Number(match[1]);
}

function objectHeaders(object: R2Object): Headers {
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set("etag", object.httpEtag);
  headers.set("last-modified", object.uploaded.toUTCString());
  headers.set("accept-ranges", "bytes");
  return headers;
}

/** The inclusive byte span R2 returned, or null when it returned the whole object. */
function byteRange(object: R2ObjectBody): { first: number; last: number } | null {
  const range = object.range;
  if (range === undefined) return null;
  // R2's range object carries all of offset, length and suffix, with the unused ones undefined.
  const { offset, length: spanLength, suffix } = range as { offset?: number; length?: number; suffix?: number };
  let first: number;
  let length: number;
  if (suffix !== undefined) {
    length = Math.min(suffix, object.size);
    first = object.size - length;
  } else {
    first = offset ?? 0;
    length = spanLength ?? object.size - first;
  }
  if (first === 0 && length === object.size) return null;
  return { first, last: first + length - 1 };
}
