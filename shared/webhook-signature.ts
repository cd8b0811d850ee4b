import { hmacKey, toHex } from "./encoding";

/**
 * Webhook requests carry `Ingest-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `<t>.<raw body>` with WEBHOOK_SECRET. The timestamp lets a receiver refuse replays.
 */
export async function signWebhook(secret: string, body: string, timestamp: number): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), new TextEncoder().encode(`${timestamp}.${body}`));
  return `t=${timestamp},v1=${toHex(mac)}`;
}

/** What a receiver does: recompute, compare in constant time, and check the age. */
export async function verifyWebhook(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): Promise<boolean> {
  const fields = new Map(header.split(",").map((field) => field.trim().split("=", 2) as [string, string]));
  const timestamp = Number(fields.get("t"));
  const given = fields.get("v1");
  if (!Number.isInteger(timestamp) || given === undefined || Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    return false;
  }
  const expected = (await signWebhook(secret, body, timestamp)).split("v1=")[1] ?? "";
  return constantTimeEqual(expected, given);
}

/** Plain JS so that receivers on any runtime (Node, browsers, Workers) can use it. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
