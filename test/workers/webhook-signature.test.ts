// Standard Webhooks signing as a receiver sees it: forgeries, edits, replays and rotated
// secrets are told apart from genuine deliveries. (Interop with the published library is shown
// in test/e2e/webhook.e2e.test.ts, which runs in Node.)
import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhook, webhookKeyBytes } from "../../shared/webhook-signature";

const SECRET = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;
const NOW = 1_800_000_000;
const BODY = JSON.stringify({ id: "u1:completed", type: "upload.completed" });
const message = { id: "u1:completed", timestamp: NOW, body: BODY };

describe("webhook signatures", () => {
  it("sign the id, timestamp and body into the three Standard Webhooks headers", async () => {
    const headers = await signWebhook(SECRET, message);
    expect(headers["webhook-id"]).toBe("u1:completed");
    expect(headers["webhook-timestamp"]).toBe(String(NOW));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await verifyWebhook(SECRET, headers, BODY, NOW)).toBe(true);
    expect(await verifyWebhook(SECRET, new Headers(headers), BODY, NOW)).toBe(true);
  });

  it("are a base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the whsec_ secret's decoded bytes", async () => {
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode("0123456789abcdef0123456789abcdef"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`u1:completed.${NOW}.${BODY}`));
    const expected = btoa(String.fromCharCode(...new Uint8Array(mac)));
    expect((await signWebhook(SECRET, message))["webhook-signature"]).toBe(`v1,${expected}`);
    // The same bytes given raw (no whsec_ prefix) are used as they are: same signature.
    expect((await signWebhook("0123456789abcdef0123456789abcdef", message))["webhook-signature"]).toBe(
      `v1,${expected}`,
    );
  });

  it("do not verify for another secret, an edited body, another id or another timestamp", async () => {
    const headers = await signWebhook(SECRET, message);
    expect(await verifyWebhook(`whsec_${btoa("another secret, 32 bytes long!!!")}`, headers, BODY, NOW)).toBe(false);
    expect(await verifyWebhook(SECRET, headers, `${BODY} `, NOW)).toBe(false);
    expect(await verifyWebhook(SECRET, { ...headers, "webhook-id": "u2:completed" }, BODY, NOW)).toBe(false);
    expect(await verifyWebhook(SECRET, { ...headers, "webhook-timestamp": String(NOW + 1) }, BODY, NOW)).toBe(false);
  });

  it("refuse timestamps more than five minutes old or ahead: replays", async () => {
    const headers = await signWebhook(SECRET, message);
    expect(await verifyWebhook(SECRET, headers, BODY, NOW + 300)).toBe(true);
    expect(await verifyWebhook(SECRET, headers, BODY, NOW + 301)).toBe(false);
    expect(await verifyWebhook(SECRET, headers, BODY, NOW - 301)).toBe(false);
    expect(await verifyWebhook(SECRET, { ...headers, "webhook-timestamp": "soon" }, BODY, NOW)).toBe(false);
  });

  it("accept any matching v1 signature of several (secret rotation), ignoring other versions", async () => {
    const current = (await signWebhook(SECRET, message))["webhook-signature"];
    const old = (await signWebhook("an-older-raw-secret-0123456789", message))["webhook-signature"];
    const both = {
      "webhook-id": message.id,
      "webhook-timestamp": String(NOW),
      "webhook-signature": `${old} ${current}`,
    };
    expect(await verifyWebhook(SECRET, both, BODY, NOW)).toBe(true);
    const otherVersion = { ...both, "webhook-signature": current.replace(/^v1,/, "v1a,") };
    expect(await verifyWebhook(SECRET, otherVersion, BODY, NOW)).toBe(false);
    expect(await verifyWebhook(SECRET, { ...both, "webhook-signature": "v1,not base64!" }, BODY, NOW)).toBe(false);
  });

  it("refuse deliveries missing a header", async () => {
    const headers = await signWebhook(SECRET, message);
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"] as const) {
      const { [name]: _, ...rest } = headers;
      expect(await verifyWebhook(SECRET, rest, BODY, NOW)).toBe(false);
    }
  });

  it("take whsec_ secrets as base64 key bytes, others as UTF-8, and refuse a broken whsec_ secret", () => {
    expect(new TextDecoder().decode(webhookKeyBytes(SECRET))).toBe("0123456789abcdef0123456789abcdef");
    expect(webhookKeyBytes("plain-secret-é")).toEqual(new TextEncoder().encode("plain-secret-é"));
    for (const broken of ["whsec_", "whsec_not base64", "whsec_YWJj-_", "whsec_YWI"]) {
      expect(() => webhookKeyBytes(broken)).toThrow(/whsec_/);
    }
    expect(() => webhookKeyBytes("")).toThrow(/empty/);
  });
});
