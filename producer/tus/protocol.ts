import * as z from "zod/mini";
import type { ProducerConfig } from "../../shared/config";
import { fromBase64 } from "../../shared/encoding";
import { ApiError } from "../../shared/errors";
import { ContentType, MAX_BYTES, MAX_PARTS, Metadata, ObjectKey, STAGING_PREFIX } from "../../shared/schemas";

/** The tus protocol, version 1.0.0 (https://tus.io/protocols/resumable-upload): its headers and rules. */
export const TUS_VERSION = "1.0.0";
export const TUS_EXTENSIONS = [
  "creation",
  "creation-with-upload",
  "creation-defer-length",
  "termination",
  "expiration",
  "checksum",
  "concatenation",
];
export const OFFSET_OCTET_STREAM = "application/offset+octet-stream";

/** Upload-Checksum algorithms (tus names) and the Web Crypto digests behind them. */
export const CHECKSUM_ALGORITHMS = {
  sha1: "SHA-1",
  sha256: "SHA-256",
  sha384: "SHA-384",
  sha512: "SHA-512",
  md5: "MD5",
};
export type ChecksumAlgorithm = keyof typeof CHECKSUM_ALGORITHMS;

/** Partial uploads are staged here: under the reserved prefix no client key can name. */
export const PARTIAL_PREFIX = `${STAGING_PREFIX}tus-partials/`;

/** Tus-Max-Size: what the part size allows in R2's part count, and the product's own maximum. */
export const maxUploadSize = (settings: ProducerConfig) => Math.min(MAX_BYTES, settings.tusPartSize * MAX_PARTS);

/** Upload-Expires and other dates: RFC 9110's IMF-fixdate. */
export const httpDate = (ms: number) => new Date(ms).toUTCString();

/** R2 part count of a tus upload of `length` bytes: an empty upload is one empty part. */
export const partsFor = (length: number, partSize: number) => Math.max(1, Math.ceil(length / partSize));

export const tusError = (status: 400 | 404 | 409 | 410 | 412 | 413 | 415, code: string, message: string) =>
  new ApiError(status, code, message);

/** Parses Upload-Metadata: comma-separated `key base64value` pairs (the value may be absent). */
export function parseMetadata(header: string | undefined): Map<string, string> {
  const pairs = new Map<string, string>();
  if (header === undefined || header.trim() === "") return pairs;
  for (const pair of header.split(",")) {
    const match = /^\s*([^\s,]+)(?:\s+([A-Za-z0-9+/]*={0,2}))?\s*$/.exec(pair);
    const name = match?.[1];
    if (match === null || name === undefined) {
      throw tusError(400, "invalid_metadata", "Upload-Metadata must be comma-separated `key base64value` pairs");
    }
    if (pairs.has(name)) throw tusError(400, "invalid_metadata", `Upload-Metadata names ${name} twice`);
    const bytes = fromBase64(match[2] ?? "");
    let value: string;
    try {
      value = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes ?? undefined);
    } catch {
      value = "\uFFFD";
    }
    if (bytes === null || value.includes("\uFFFD")) {
      throw tusError(400, "invalid_metadata", `Upload-Metadata value of ${name} is not base64 of UTF-8 text`);
    }
    pairs.set(name, value);
  }
  return pairs;
}

export type ObjectSettings = {
  key: string;
  contentType: string | undefined;
  metadata: Record<string, string> | undefined;
};

/**
 * What Upload-Metadata says of the object: `key` names it (else `filename` under the prefix
 * with the upload id, keeping the extension), `filetype`/`contentType` its Content-Type, and
 * everything else becomes R2 custom metadata. Every value is checked as the native API checks it.
 */
export function objectSettings(pairs: Map<string, string>, uploadId: string, prefix: string): ObjectSettings {
  const custom: Record<string, string> = {};
  for (const [name, value] of pairs) {
    if (name !== "key" && name !== "filetype" && name !== "contentType") custom[name] = value;
  }
  const type = pairs.get("filetype") ?? pairs.get("contentType");
  const key = pairs.get("key") ?? generatedKey(pairs.get("filename"), uploadId, prefix);
  return {
    key: check(ObjectKey, key, "key"),
    contentType: type === undefined || type === "" ? undefined : check(ContentType, type, "filetype"),
    metadata: Object.keys(custom).length === 0 ? undefined : check(Metadata, custom, "metadata"),
  };
}

function generatedKey(filename: string | undefined, uploadId: string, prefix: string): string {
  // Only the last path segment of a file name; the key rules refuse control characters.
  const base = (filename ?? "").split(/[\\/]/).pop() ?? "";
  if (base === "" || base === "." || base === "..") return `${prefix}${uploadId}`;
  const dot = base.lastIndexOf(".");
  return dot > 0 ? `${prefix}${base.slice(0, dot)}-${uploadId}${base.slice(dot)}` : `${prefix}${base}-${uploadId}`;
}

function check<S extends z.core.$ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = z.safeParse(schema, value);
  if (result.success) return result.data;
  const message = result.error.issues[0]?.message ?? "is invalid";
  const code = /limited to/.test(message) ? "metadata_too_large" : "invalid_metadata";
  throw tusError(400, code, `Upload-Metadata ${what}: ${message}`);
}

/** Upload-Checksum: `<algorithm> <base64 digest>`. */
export function parseChecksum(header: string | undefined): { algorithm: ChecksumAlgorithm; digest: string } | null {
  if (header === undefined) return null;
  const match = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})\s*$/.exec(header);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw tusError(400, "invalid_checksum", "Upload-Checksum must be `<algorithm> <base64 digest>`");
  }
  const algorithm = match[1].toLowerCase();
  if (!(algorithm in CHECKSUM_ALGORITHMS)) {
    throw tusError(
      400,
      "unsupported_checksum",
      `Upload-Checksum algorithm ${algorithm} is not supported: use one of ${Object.keys(CHECKSUM_ALGORITHMS).join(", ")}`,
    );
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest: match[2] };
}

export type Concat = { kind: "single" } | { kind: "partial" } | { kind: "final"; uploadIds: string[] };

/** Upload-Concat: `partial`, or `final;<url> <url> ...` naming partial uploads in order. */
export function parseConcat(header: string | undefined): Concat {
  if (header === undefined) return { kind: "single" };
  const value = header.trim();
  if (value === "partial") return { kind: "partial" };
  if (!value.startsWith("final;")) {
    throw tusError(400, "invalid_concat", "Upload-Concat must be `partial` or `final;<url> <url> ...`");
  }
  const urls = value.slice("final;".length).trim().split(/\s+/).filter(Boolean);
  if (urls.length === 0) throw tusError(400, "invalid_concat", "Upload-Concat: final names no partial upload");
  const uploadIds = urls.map((url) => {
    const path = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? new URL(url).pathname : url;
    const id = /\/files\/([^/?#]+)\/?$/.exec(path)?.[1];
    if (id === undefined) throw tusError(400, "invalid_concat", `${url} is not an upload URL of this server`);
    return decodeURIComponent(id);
  });
  if (new Set(uploadIds).size !== uploadIds.length) {
    throw tusError(400, "invalid_concat", "Upload-Concat: final names a partial upload twice");
  }
  return { kind: "final", uploadIds };
}

/** Upload-Length / Upload-Offset: a non-negative decimal integer. */
export function parseCount(header: string | undefined, name: string): number | null {
  if (header === undefined) return null;
  if (!/^\d{1,16}$/.test(header.trim()) || !Number.isSafeInteger(Number(header))) {
    throw tusError(400, "invalid_header", `${name} must be a non-negative whole number`);
  }
  return Number(header);
}
