import { toBase64Url } from "./encoding";

/**
 * Our own upload ids: 16 random bytes (128 bits, unguessable) as 22 base64url characters, so
 * they fit on one line and in a URL without escaping. R2's multipart id (~170 characters) stays
 * in D1 beside it and never leaves the Workers.
 */
export function newUploadId(): string {
  for (;;) {
    const id = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
    // One in 64 would start with "-", which command lines read as an option: draw again.
    if (!id.startsWith("-")) return id;
  }
}

/** The shape of an id newUploadId makes; anything else cannot name an upload. */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
