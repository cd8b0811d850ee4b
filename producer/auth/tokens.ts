import * as z from "zod/mini";
import { fromBase64, toBase64Url } from "../../shared/encoding";

/**
 * Upload tokens: a capability for one upload, verifiable without a D1 read. They are plain
 * HS256 JWTs (RFC 7519) signed with TOKEN_SECRET, so any JWT library holding the secret can
 * mint or inspect them: `{ sub: uploadId, key: objectKey, aud: "ingest-upload", iat, exp }`.
 *
 * Verification accepts only HS256 (never "none", never an asymmetric alg, whose "public key"
 * an attacker could fill with our secret), checks the signature before trusting any claim,
 * then requires every claim above. `nbf`, when another minter sets it, is honoured too.
 */
export const UPLOAD_TOKEN_AUDIENCE = "ingest-upload";
export const MIN_TOKEN_SECRET_LENGTH = 32;
const ALGORITHM = "HS256";
/** 9999-12-31T23:59:59Z: far beyond any TTL, well inside safe integers. */
const MAX_EPOCH_SECONDS = 253_402_300_799;

export type UploadClaims = { uploadId: string; key: string; expiresAt: number };

export type TokenCheck =
  | { ok: true; claims: UploadClaims }
  | { ok: false; reason: "malformed" | "bad_signature" | "expired" };

const epochSeconds = (name: string) =>
  z
    .int(`${name} must be an integer number of seconds since the epoch`)
    .check(
      z.minimum(0, `${name} must not be negative`),
      z.maximum(MAX_EPOCH_SECONDS, `${name} must be before the year 10000`),
    );

const audienceIncludesUs = (aud: string | string[]) =>
  Array.isArray(aud) ? aud.includes(UPLOAD_TOKEN_AUDIENCE) : aud === UPLOAD_TOKEN_AUDIENCE;

const UploadTokenClaims = z.object({
  sub: z.string("sub must be the upload id").check(z.minLength(1, "sub must not be empty")),
  key: z.string("key must be the object key").check(z.minLength(1, "key must not be empty")),
  aud: z
    .union([z.string(), z.array(z.string())], `aud must be "${UPLOAD_TOKEN_AUDIENCE}"`)
    .check(z.refine(audienceIncludesUs, `aud must be "${UPLOAD_TOKEN_AUDIENCE}"`)),
  exp: epochSeconds("exp"),
  iat: z.optional(epochSeconds("iat")),
  nbf: z.optional(epochSeconds("nbf")),
});

const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  if (secret.length < MIN_TOKEN_SECRET_LENGTH) {
    // access.ts never passes a shorter one; reaching this is a wiring mistake, not a bad request.
    throw new RangeError(`TOKEN_SECRET must be at least ${MIN_TOKEN_SECRET_LENGTH} characters`);
  }
  let key = keys.get(secret);
  if (key === undefined) {
    const algorithm = { name: "HMAC", hash: "SHA-256" };
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), algorithm, false, ["sign", "verify"]);
    keys.set(secret, key);
  }
  return key;
}

/**
 * Whether a bearer credential is shaped like one of our tokens: three base64url segments whose
 * header names HS256. Everything else (API keys included) goes to the API key check.
 */
export function isUploadToken(credential: string): boolean {
  const segments = credential.split(".");
  if (segments.length !== 3 || !segments.every((segment) => /^[A-Za-z0-9_-]+$/.test(segment))) return false;
  const headerBytes = fromBase64(segments[0] ?? "");
  if (headerBytes === null) return false;
  try {
    const header: unknown = JSON.parse(new TextDecoder().decode(headerBytes));
    return typeof header === "object" && header !== null && "alg" in header && header.alg === ALGORITHM;
  } catch {
    return false;
  }
}

export async function issueUploadToken(secret: string, claims: UploadClaims): Promise<string> {
  const payload = {
    sub: claims.uploadId,
    key: claims.key,
    aud: UPLOAD_TOKEN_AUDIENCE,
    iat: Math.floor(Date.now() / 1000),
    exp: claims.expiresAt,
  };
  const signingInput = `${encodeSegment({ alg: ALGORITHM, typ: "JWT" })}.${encodeSegment(payload)}`;
  const signature = await crypto.subtle.sign("HMAC", await keyFor(secret), new TextEncoder().encode(signingInput));
  return `${signingInput}.${toBase64Url(signature)}`;
}

const encodeSegment = (value: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(value)));

/**
 * `nowSeconds` decides expiry, so callers and tests choose the instant. A wrong audience or a token not yet valid (`nbf`) counts as malformed: it is not an
 * upload token for this service, and the caller answers both alike.
 */
export async function verifyUploadToken(secret: string, token: string, nowSeconds: number): Promise<TokenCheck> {
  const key = await keyFor(secret);
  if (!isUploadToken(token)) return { ok: false, reason: "malformed" };
  // isUploadToken checked the shape and that the header names HS256; the signature is checked
  // (WebCrypto's verify compares in constant time) before any claim is read.
  const [header, body, signature] = token.split(".") as [string, string, string];
  const signatureBytes = fromBase64(signature);
  if (signatureBytes === null) return { ok: false, reason: "malformed" };
  const signed = new TextEncoder().encode(`${header}.${body}`);
  if (!(await crypto.subtle.verify("HMAC", key, signatureBytes, signed))) return { ok: false, reason: "bad_signature" };
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(fromBase64(body) ?? new Uint8Array()));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const parsed = UploadTokenClaims.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: "malformed" };
  const { sub, key: objectKey, exp, nbf } = parsed.data;
  if (nbf !== undefined && nbf > nowSeconds) return { ok: false, reason: "malformed" };
  if (exp <= nowSeconds) return { ok: false, reason: "expired" };
  return { ok: true, claims: { uploadId: sub, key: objectKey, expiresAt: exp } };
}
