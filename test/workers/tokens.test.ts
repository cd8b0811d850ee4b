// Upload tokens are standard HS256 JWTs: anything holding TOKEN_SECRET can mint or read them with
// a plain HMAC, and verification refuses every other algorithm, audience and shape.
import { describe, expect, it } from "vitest";
import { issueUploadToken, isUploadToken, verifyUploadToken } from "../../producer/auth/tokens";

const SECRET = "unit-test-token-secret-0123456789abcdef";
const NOW = 1_800_000_000;
const CLAIMS = { uploadId: "AAECAwQFBgcICQoLDA0ODw", key: "videos/cat.mp4", expiresAt: NOW + 3600 };

const base64Url = (bytes: Uint8Array | ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const segment = (value: unknown) => base64Url(new TextEncoder().encode(JSON.stringify(value)));
const decodeSegment = (text: string): unknown =>
  JSON.parse(
    new TextDecoder().decode(Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))),
  );

/** A JWT made the way any HMAC JWT library makes one, without the code under test. */
async function handMadeJwt(header: object, payload: object, secret = SECRET, hash = "SHA-256"): Promise<string> {
  const signingInput = `${segment(header)}.${segment(payload)}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash }, false, [
    "sign",
  ]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signingInput));
  return `${signingInput}.${base64Url(mac)}`;
}

const PAYLOAD = { sub: CLAIMS.uploadId, key: CLAIMS.key, aud: "ingest-upload", iat: NOW, exp: CLAIMS.expiresAt };
const HS256 = { alg: "HS256", typ: "JWT" };

describe("upload tokens", () => {
  it("round-trip: an issued token verifies and gives back its upload id, key and expiry", async () => {
    const token = await issueUploadToken(SECRET, CLAIMS);
    expect(isUploadToken(token)).toBe(true);
    expect(await verifyUploadToken(SECRET, token, NOW)).toEqual({ ok: true, claims: CLAIMS });
  });

  it("is a readable JWT: HS256 header, sub/key/aud/iat/exp claims, signature a plain HMAC-SHA256", async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = await issueUploadToken(SECRET, CLAIMS);
    const [header = "", payload = "", signature = ""] = token.split(".");
    expect(decodeSegment(header)).toEqual(HS256);
    const claims = decodeSegment(payload) as Record<string, unknown>;
    expect(claims).toEqual({
      sub: CLAIMS.uploadId,
      key: CLAIMS.key,
      aud: "ingest-upload",
      iat: expect.any(Number),
      exp: CLAIMS.expiresAt,
    });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${header}.${payload}`));
    expect(signature).toBe(base64Url(mac));
  });

  it("accepts a token minted by hand with a plain HMAC, as another service would", async () => {
    const token = await handMadeJwt(HS256, PAYLOAD);
    expect(await verifyUploadToken(SECRET, token, NOW)).toEqual({ ok: true, claims: CLAIMS });
    const withoutTyp = await handMadeJwt({ alg: "HS256" }, { ...PAYLOAD, aud: ["other", "ingest-upload"] });
    expect(await verifyUploadToken(SECRET, withoutTyp, NOW)).toEqual({ ok: true, claims: CLAIMS });
  });

  it("refuses a tampered payload and a wrong secret as bad signatures", async () => {
    const token = await issueUploadToken(SECRET, CLAIMS);
    const [header, , signature] = token.split(".");
    const tampered = `${header}.${segment({ ...PAYLOAD, exp: CLAIMS.expiresAt + 86_400 })}.${signature}`;
    expect(await verifyUploadToken(SECRET, tampered, NOW)).toEqual({ ok: false, reason: "bad_signature" });
    const otherKey = "someone-elses-secret-0123456789abcdef0123";
    expect(await verifyUploadToken(otherKey, token, NOW)).toEqual({ ok: false, reason: "bad_signature" });
    // The signature is checked before any claim: a forged token never reads as merely expired.
    const forgedExpired = await handMadeJwt(HS256, { ...PAYLOAD, exp: NOW - 10 }, otherKey);
    expect(await verifyUploadToken(SECRET, forgedExpired, NOW)).toEqual({ ok: false, reason: "bad_signature" });
  });

  it('refuses alg "none", with or without a signature', async () => {
    const unsigned = `${segment({ alg: "none", typ: "JWT" })}.${segment(PAYLOAD)}.`;
    expect(isUploadToken(unsigned)).toBe(false);
    expect(await verifyUploadToken(SECRET, unsigned, NOW)).toEqual({ ok: false, reason: "malformed" });
    const signature = (await issueUploadToken(SECRET, CLAIMS)).split(".")[2];
    const spliced = `${segment({ alg: "none" })}.${segment(PAYLOAD)}.${signature}`;
    expect(await verifyUploadToken(SECRET, spliced, NOW)).toEqual({ ok: false, reason: "malformed" });
  });

  it("refuses every algorithm but HS256, even correctly signed with the secret", async () => {
    const hs512 = await handMadeJwt({ alg: "HS512", typ: "JWT" }, PAYLOAD, SECRET, "SHA-512");
    const rs256 = await handMadeJwt({ alg: "RS256", typ: "JWT" }, PAYLOAD);
    for (const token of [hs512, rs256]) {
      expect(isUploadToken(token)).toBe(false);
      expect(await verifyUploadToken(SECRET, token, NOW)).toEqual({ ok: false, reason: "malformed" });
    }
  });

  it("reports a token whose exp has been reached as expired, and one second before as valid", async () => {
    const token = await issueUploadToken(SECRET, CLAIMS);
    expect(await verifyUploadToken(SECRET, token, CLAIMS.expiresAt)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyUploadToken(SECRET, token, CLAIMS.expiresAt + 3600)).toEqual({ ok: false, reason: "expired" });
    expect((await verifyUploadToken(SECRET, token, CLAIMS.expiresAt - 1)).ok).toBe(true);
  });

  it("refuses a validly signed token for another audience, or with none", async () => {
    const { aud: _, ...withoutAudience } = PAYLOAD;
    for (const payload of [{ ...PAYLOAD, aud: "billing" }, { ...PAYLOAD, aud: ["billing"] }, withoutAudience]) {
      expect(await verifyUploadToken(SECRET, await handMadeJwt(HS256, payload), NOW)).toEqual({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("refuses validly signed tokens with missing or mistyped claims, or not valid yet", async () => {
    const { sub: _sub, ...withoutSub } = PAYLOAD;
    const { key: _key, ...withoutKey } = PAYLOAD;
    const { exp: _exp, ...withoutExp } = PAYLOAD;
    for (const payload of [
      withoutSub,
      withoutKey,
      withoutExp,
      { ...PAYLOAD, sub: "" },
      { ...PAYLOAD, key: 42 },
      { ...PAYLOAD, exp: String(PAYLOAD.exp) },
      { ...PAYLOAD, exp: PAYLOAD.exp + 0.5 },
      { ...PAYLOAD, iat: "yesterday" },
      { ...PAYLOAD, nbf: NOW + 60 },
    ]) {
      expect(await verifyUploadToken(SECRET, await handMadeJwt(HS256, payload), NOW)).toEqual({
        ok: false,
        reason: "malformed",
      });
    }
    expect((await verifyUploadToken(SECRET, await handMadeJwt(HS256, { ...PAYLOAD, nbf: NOW }), NOW)).ok).toBe(true);
  });

  it("tells tokens from API keys and garbage by shape alone", async () => {
    expect(isUploadToken(await issueUploadToken(SECRET, CLAIMS))).toBe(true);
    for (const credential of [
      "dev-key-0123456789abcdef",
      "a.b",
      "a.b.c.d",
      "v1.eyJ1IjoiYSJ9.c2ln",
      `${segment(HS256)}.e30.`,
      "...",
      "e30.e30.e30",
    ]) {
      expect(isUploadToken(credential)).toBe(false);
      expect(await verifyUploadToken(SECRET, credential, NOW)).toEqual({ ok: false, reason: "malformed" });
    }
  });

  it("refuses to work with a TOKEN_SECRET shorter than 32 characters", async () => {
    await expect(issueUploadToken("short-secret", CLAIMS)).rejects.toThrow(/at least 32/);
    await expect(verifyUploadToken("short-secret", "a.b.c", NOW)).rejects.toThrow(/at least 32/);
  });
});
