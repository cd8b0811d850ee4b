import type { Context } from "hono";
import { ApiError } from "../../shared/errors";
import { type AppEnv, config } from "../context";
import { type ApiKey, AuthMisconfigured, findApiKey, keyAllows, parseApiKeys } from "./keys";
import { TOKEN_PREFIX, type UploadClaims, verifyUploadToken } from "./tokens";

/** Who is asking: nobody (anonymous access is on), an API key, or an upload token. */
export type Caller = { kind: "anonymous" } | { kind: "key"; key: ApiKey } | { kind: "token"; claims: UploadClaims };

const keyCache = new WeakMap<object, Promise<ApiKey[]>>();

function apiKeys(env: Env): Promise<ApiKey[]> {
  let keys = keyCache.get(env);
  if (keys === undefined) {
    keys = parseApiKeys(typeof env.API_KEYS === "string" ? env.API_KEYS : undefined);
    keyCache.set(env, keys);
  }
  return keys;
}

export function tokenSecret(env: Env): string | null {
  return typeof env.TOKEN_SECRET === "string" && env.TOKEN_SECRET.length >= 32 ? env.TOKEN_SECRET : null;
}

const unauthorized = (code: string, message: string) =>
  new ApiError(401, code, message, undefined, { "WWW-Authenticate": 'Bearer realm="ingest"' });
const forbidden = (message: string) => new ApiError(403, "forbidden", message);

/**
 * Identifies the caller from `Authorization: Bearer <API key or upload token>` without touching
 * D1. Refuses missing, malformed, unknown, forged and expired credentials; the presented secret
 * never appears in an error or a log line.
 */
export async function authenticate(c: Context<AppEnv>): Promise<Caller> {
  const settings = config(c.env);
  const header = c.req.header("authorization");
  if (header === undefined && settings.allowAnonymous) return { kind: "anonymous" };

  let keys: ApiKey[];
  try {
    keys = await apiKeys(c.env);
  } catch (error) {
    keyCache.delete(c.env);
    console.error(JSON.stringify({ event: "auth_misconfigured", error: error instanceof AuthMisconfigured ? error.message : "unknown" }));
    throw new ApiError(503, "auth_misconfigured", "the server's API key configuration is invalid");
  }
  if (keys.length === 0 && !settings.allowAnonymous) {
    throw new ApiError(
      403,
      "auth_not_configured",
      "no API keys are configured on this deployment: set the API_KEYS secret, or ALLOW_ANONYMOUS=true to allow anonymous access",
    );
  }
  if (header === undefined) throw unauthorized("unauthorized", "send Authorization: Bearer <API key or upload token>");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match?.[1] === undefined) throw unauthorized("invalid_credentials", "the Authorization header must be Bearer <credential>");
  const credential = match[1];

  if (credential.startsWith(TOKEN_PREFIX)) {
    const secret = tokenSecret(c.env);
    if (secret === null) throw unauthorized("invalid_credentials", "upload tokens are not enabled on this deployment");
    const check = await verifyUploadToken(secret, credential, Math.floor(Date.now() / 1000));
    if (!check.ok) {
      throw check.reason === "expired"
        ? unauthorized("token_expired", "the upload token has expired")
        : unauthorized("invalid_credentials", "the upload token is not valid");
    }
    return { kind: "token", claims: check.claims };
  }
  const key = await findApiKey(keys, credential);
  if (key === null) throw unauthorized("invalid_credentials", "unknown API key");
  return { kind: "key", key };
}

/** Creating under `objectKey` (and deleting objects) takes an API key allowed for that key. */
export function authorizeKeyWrite(caller: Caller, objectKey: string): void {
  if (caller.kind === "anonymous") return;
  if (caller.kind === "token") throw forbidden("an upload token only grants access to its own upload");
  if (!keyAllows(caller.key, objectKey)) throw forbidden(`this API key may not write under ${JSON.stringify(objectKey)}`);
}

/** Before the upload is read: a token must name this upload. */
export function authorizeUploadId(caller: Caller, uploadId: string): void {
  if (caller.kind === "token" && caller.claims.uploadId !== uploadId) {
    throw forbidden("this upload token belongs to another upload");
  }
}

/** Once the upload is read: a key must be allowed for its object key, a token must match it. */
export function authorizeUpload(caller: Caller, upload: { upload_id: string; object_key: string }): void {
  authorizeUploadId(caller, upload.upload_id);
  if (caller.kind === "token" && caller.claims.key !== upload.object_key) throw forbidden("this upload token belongs to another upload");
  if (caller.kind === "key" && !keyAllows(caller.key, upload.object_key)) {
    throw forbidden("this API key may not access this upload");
  }
}

/** Reading objects takes an API key allowed for the key, unless reads are public. */
export async function authorizeRead(c: Context<AppEnv>, objectKey: string): Promise<void> {
  if (config(c.env).publicReads) return;
  const caller = await authenticate(c);
  if (caller.kind === "token") throw forbidden("upload tokens cannot read objects: use an API key");
  if (caller.kind === "key" && !keyAllows(caller.key, objectKey)) throw forbidden("this API key may not read this object");
}
