import type { Context, MiddlewareHandler } from "hono";
import { ApiError, errors } from "../../shared/errors";
import { type AppEnv, config } from "../context";
import type { Env } from "../env";
import type { Security } from "../http/route";
import { type ApiKey, AuthMisconfigured, findApiKey, parseApiKeys } from "./keys";
import { isUploadToken, type UploadClaims, verifyUploadToken } from "./tokens";

/** Who is asking: nobody (anonymous access is on, or the route is public), an API key, or an upload token. */
export type Caller = { kind: "anonymous" } | { kind: "key"; key: ApiKey } | { kind: "token"; claims: UploadClaims };

const keyCache = new WeakMap<object, Promise<ApiKey[]>>();

function apiKeys(env: Env): Promise<ApiKey[]> {
  let keys = keyCache.get(env);
  if (keys === undefined) {
    keys = parseApiKeys(env.API_KEYS);
    keyCache.set(env, keys);
  }
  return keys;
}

/** The upload-token signing secret, or null when tokens are off (no secret, or one too short to be safe). */
export function tokenSecret(env: Env): string | null {
  const secret = env.TOKEN_SECRET;
  return typeof secret === "string" && secret.length >= 32 ? secret : null;
}

/**
 * Authentication as middleware: identifies the caller that the route's security asks for and
 * puts it on the context (`c.var.caller`) before any input is read. Refuses missing, malformed,
 * unknown, forged and expired credentials without touching D1; the presented secret never
 * appears in an error or a log line.
 */
export const authenticate =
  (security: Security): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    c.set("caller", await callerFor(c, security));
    await next();
  };

/** Whose limits a caller's new uploads count against. */
export function ownerOf(caller: Caller): string {
  return caller.kind === "key" ? `key:${caller.key.id}` : "anonymous";
}

async function callerFor(c: Context<AppEnv>, security: Security): Promise<Caller> {
  if (security === "none") return { kind: "anonymous" };
  const settings = config(c.env);
  if (security === "read" && settings.publicReads) return { kind: "anonymous" };
  const header = c.req.header("authorization");
  if (header === undefined && settings.allowAnonymous) return { kind: "anonymous" };

  let keys: ApiKey[];
  try {
    keys = await apiKeys(c.env);
  } catch (error) {
    keyCache.delete(c.env);
    const reason = error instanceof AuthMisconfigured ? error.message : "unknown";
    console.error(JSON.stringify({ event: "auth_misconfigured", code: "auth_misconfigured", error: reason }));
    throw new ApiError(503, "auth_misconfigured", "the server's API key configuration is invalid");
  }
  if (keys.length === 0 && !settings.allowAnonymous) {
    throw new ApiError(
      403,
      "auth_not_configured",
      "no API keys are configured on this deployment: set the API_KEYS secret, or ALLOW_ANONYMOUS=true to allow anonymous access",
    );
  }
  if (header === undefined)
    throw errors.unauthorized("unauthorized", "send Authorization: Bearer <API key or upload token>");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match?.[1] === undefined) {
    throw errors.unauthorized("invalid_credentials", "the Authorization header must be Bearer <credential>");
  }
  const credential = match[1];

  if (isUploadToken(credential)) {
    const secret = tokenSecret(c.env);
    if (secret === null)
      throw errors.unauthorized("invalid_credentials", "upload tokens are not enabled on this deployment");
    const check = await verifyUploadToken(secret, credential, Math.floor(Date.now() / 1000));
    if (!check.ok) {
      throw check.reason === "expired"
        ? errors.unauthorized("token_expired", "the upload token has expired")
        : errors.unauthorized("invalid_credentials", "the upload token is not valid");
    }
    if (security !== "credential") {
      throw errors.forbidden(
        security === "read"
          ? "upload tokens cannot read objects: use an API key"
          : "an upload token only grants access to its own upload",
      );
    }
    return { kind: "token", claims: check.claims };
  }
  const key = await findApiKey(keys, credential);
  if (key === null) throw errors.unauthorized("invalid_credentials", "unknown API key");
  return { kind: "key", key };
}
