import * as z from "zod/mini";

const ApiKeyEntry = z.object({
  id: z.string().check(z.minLength(1, "every API key needs an id")),
  key: z.string().check(z.minLength(16, "API keys must be at least 16 characters")),
  prefix: z._default(z.string(), ""),
});

/** A configured API key; only the digest of the secret is kept in memory. */
export type ApiKey = { id: string; prefix: string; digest: ArrayBuffer };

export class AuthMisconfigured extends Error {}

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/**
 * Parses the API_KEYS secret: a JSON array of `{ "id", "key", "prefix"? }`. A key with a prefix
 * may only create and touch uploads whose object key starts with it.
 */
export async function parseApiKeys(raw: string | undefined): Promise<ApiKey[]> {
  if (raw === undefined || raw.trim() === "") return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new AuthMisconfigured("API_KEYS is not valid JSON");
  }
  const parsed = z.safeParse(z.array(ApiKeyEntry), json);
  if (!parsed.success) throw new AuthMisconfigured(`API_KEYS is malformed: ${parsed.error.issues[0]?.message ?? ""}`);
  return Promise.all(
    parsed.data.map(async (entry) => ({ id: entry.id, prefix: entry.prefix, digest: await digest(entry.key) })),
  );
}

/**
 * Finds the configured key equal to `presented`. Compares digests in constant time and always
 * against every key, so neither the timing nor the order reveals anything about a key.
 */
export async function findApiKey(keys: ApiKey[], presented: string): Promise<ApiKey | null> {
  const candidate = await digest(presented);
  let found: ApiKey | null = null;
  for (const key of keys) {
    if (crypto.subtle.timingSafeEqual(candidate, key.digest) && found === null) found = key;
  }
  return found;
}

export function keyAllows(key: ApiKey, objectKey: string): boolean {
  return objectKey.startsWith(key.prefix);
}
