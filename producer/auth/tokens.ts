import { fromBase64, hmacKey, toBase64Url } from "../../shared/encoding";

/**
 * Upload tokens: a capability for one upload, verifiable without a D1 read. The format is
 * `v1.<payload>.<signature>`, both base64url, the payload JSON `{ u: uploadId, k: key, e: exp }`
 * (exp in epoch seconds) and the signature HMAC-SHA256 over `v1.<payload>` with TOKEN_SECRET.
 */
export const TOKEN_PREFIX = "v1.";

export type UploadClaims = { uploadId: string; key: string; expiresAt: number };

export type TokenCheck =
  | { ok: true; claims: UploadClaims }
  | { ok: false; reason: "malformed" | "bad_signature" | "expired" };

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = hmacKey(secret, ["sign", "verify"]);
    keys.set(secret, key);
  }
  return key;
}

export async function issueUploadToken(secret: string, claims: UploadClaims): Promise<string> {
  const payload = toBase64Url(encoder.encode(JSON.stringify({ u: claims.uploadId, k: claims.key, e: claims.expiresAt })));
  const signed = `${TOKEN_PREFIX}${payload}`;
  const signature = await crypto.subtle.sign("HMAC", await keyFor(secret), encoder.encode(signed));
  return `${signed}.${toBase64Url(signature)}`;
}

export async function verifyUploadToken(secret: string, token: string, nowSeconds: number): Promise<TokenCheck> {
  const parts = token.split(".");
  if (parts.length !== 3 || `${parts[0]}.` !== TOKEN_PREFIX) return { ok: false, reason: "malformed" };
  const [, payload = "", signatureText = ""] = parts;
  const signature = fromBase64(signatureText);
  if (signature === null) return { ok: false, reason: "malformed" };
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify("HMAC", await keyFor(secret), signature, encoder.encode(`${TOKEN_PREFIX}${payload}`));
  if (!valid) return { ok: false, reason: "bad_signature" };
  const decoded = fromBase64(payload);
  if (decoded === null) return { ok: false, reason: "malformed" };
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(decoded));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (!isClaims(claims)) return { ok: false, reason: "malformed" };
  if (claims.e <= nowSeconds) return { ok: false, reason: "expired" };
  return { ok: true, claims: { uploadId: claims.u, key: claims.k, expiresAt: claims.e } };
}

function isClaims(value: unknown): value is { u: string; k: string; e: number } {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.u === "string" && typeof record.k === "string" && typeof record.e === "number";
}
