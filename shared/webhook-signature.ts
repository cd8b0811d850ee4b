/**
 * Webhook signatures per the Standard Webhooks specification (https://www.standardwebhooks.com),
 * so receivers can verify deliveries with any of its published libraries. Each request carries
 *
 *   webhook-id:        the notification id, the same on every retry (receivers dedupe on it)
 *   webhook-timestamp: unix seconds of this attempt (receivers refuse old ones: replays)
 *   webhook-signature: `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`
 *
 * How WEBHOOK_SECRET becomes the HMAC key:
 * - `whsec_<base64>` (the specification's form, e.g. `whsec_` + 32 random bytes in base64):
 *   the key is the base64-decoded bytes. Receivers use `new Webhook(secret)`.
 * - anything else: the key is the secret's UTF-8 bytes. Receivers of an ASCII secret use
 *   `new Webhook(secret, { format: "raw" })` (the library reads raw secrets one byte per char).
 * A `whsec_` secret whose rest is not padded standard base64 is refused instead of being used
 * as raw text, since a receiver would decode it and never match.
 */
export const WEBHOOK_SECRET_PREFIX = "whsec_";
const DEFAULT_TOLERANCE_SECONDS = 300;

export type WebhookHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

/** What a receiver has: a Fetch `Headers`, or a plain record such as Node's request headers. */
export type ReceivedHeaders = Headers | Record<string, string | string[] | undefined>;

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeStandardBase64(text: string): Uint8Array<ArrayBuffer> | null {
  if (!STANDARD_BASE64.test(text)) return null;
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

function encodeBase64(bytes: ArrayBuffer): string {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The HMAC key bytes WEBHOOK_SECRET stands for; throws with a readable message when unusable. */
export function webhookKeyBytes(secret: string): Uint8Array<ArrayBuffer> {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    if (secret === "") throw new RangeError("WEBHOOK_SECRET must not be empty");
    return new Uint8Array(new TextEncoder().encode(secret));
  }
  const bytes = decodeStandardBase64(secret.slice(WEBHOOK_SECRET_PREFIX.length));
  if (bytes === null || bytes.byteLength === 0) {
    throw new RangeError("WEBHOOK_SECRET starts with whsec_ but the rest is not non-empty, padded standard base64");
  }
  return bytes;
}

const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    const algorithm = { name: "HMAC", hash: "SHA-256" };
    key = crypto.subtle.importKey("raw", webhookKeyBytes(secret), algorithm, false, ["sign", "verify"]);
    keys.set(secret, key);
  }
  return key;
}

const signedContent = (id: string, timestamp: number, body: string) =>
  new TextEncoder().encode(`${id}.${timestamp}.${body}`);

/** The three headers for one delivery attempt: sign again (new timestamp) on every retry. */
export async function signWebhook(
  secret: string,
  message: { id: string; timestamp: number; body: string },
): Promise<WebhookHeaders> {
  const { id, timestamp, body } = message;
  const mac = await crypto.subtle.sign("HMAC", await keyFor(secret), signedContent(id, timestamp, body));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": `v1,${encodeBase64(mac)}`,
  };
}

function header(headers: ReceivedHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [field, value] of Object.entries(headers)) {
    if (field.toLowerCase() === name) return Array.isArray(value) ? value.join(", ") : value;
  }
  return undefined;
}

/**
 * What a receiver does: refuse a timestamp outside the tolerance, then accept when any of the
 * space-separated `v1,` signatures matches (the specification allows several during a secret
 * rotation). crypto.subtle.verify compares in constant time.
 */
export async function verifyWebhook(
  secret: string,
  headers: ReceivedHeaders,
  body: string,
  nowSeconds: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): Promise<boolean> {
  const id = header(headers, "webhook-id");
  const timestampText = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !signatures || timestampText === undefined || !/^\d{1,15}$/.test(timestampText)) return false;
  const timestamp = Number(timestampText);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const key = await keyFor(secret);
  const content = signedContent(id, timestamp, body);
  for (const entry of signatures.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    const mac = decodeStandardBase64(entry.slice(comma + 1));
    if (mac !== null && (await crypto.subtle.verify("HMAC", key, mac, content))) return true;
  }
  return false;
}
