import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { issueUploadToken } from "../../producer/auth/tokens";
import type { UploadStatus } from "../../shared/schemas";
import { bytes, FLEET_KEY, PART, Pipeline } from "./helpers";

type Created = UploadStatus & { uploadToken: string };

async function snapshot(): Promise<string> {
  const uploads = await env.DB.prepare("SELECT upload_id, state FROM uploads ORDER BY upload_id").all();
  const parts = await env.DB.prepare("SELECT upload_id, part_number FROM parts ORDER BY upload_id, part_number").all();
  return JSON.stringify([uploads.results, parts.results]);
}

const create = (pipeline: Pipeline, body: Record<string, unknown>, authorization?: string) =>
  pipeline.json<Created>("/uploads", {
    method: "POST",
    body: JSON.stringify(body),
    headers: authorization === undefined ? {} : { authorization },
  });

function expectError(response: { status: number; body: unknown }, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.body).toEqual({ error: expect.objectContaining({ code }) });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("API keys", () => {
  it("refuses writes without credentials with 401 and writes nothing", async () => {
    const anonymous = new Pipeline();
    anonymous.credential = null;
    const before = await snapshot();
    const response = await create(anonymous, { key: "sec/anon.bin" });
    expectError(response, 401, "unauthorized");
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expectError(await anonymous.json(`/sec/anon.bin?action=mpu-create`, { method: "POST" }), 401, "unauthorized");
    expect(await snapshot()).toBe(before);
  });

  it("refuses malformed and unknown credentials without echoing them, in answers or logs", async () => {
    const pipeline = new Pipeline();
    const logged: string[] = [];
    for (const method of ["log", "warn", "error"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => logged.push(args.map(String).join(" ")));
    }
    const secretGuess = "not-a-real-key-but-secret-looking-123";
    const unknown = await create(pipeline, { key: "sec/x.bin" }, `Bearer ${secretGuess}`);
    expectError(unknown, 401, "invalid_credentials");
    expectError(await create(pipeline, { key: "sec/x.bin" }, `Basic ${btoa("a:b")}`), 401, "invalid_credentials");
    expect(JSON.stringify(unknown.body)).not.toContain(secretGuess);
    expect(logged.join("\n")).not.toContain(secretGuess);
  });

  it("limits a key with a prefix to object keys under it", async () => {
    const fleet = new Pipeline();
    fleet.credential = FLEET_KEY;
    expect((await create(fleet, { key: "devices/7/log.bin" })).status).toBe(201);
    const outside = await create(fleet, { key: "finance/q3.xlsx" });
    expectError(outside, 403, "forbidden");

    const admin = new Pipeline();
    const other = await create(admin, { key: "finance/q4.xlsx", parts: 1, partSize: PART });
    expectError(await fleet.json(`/uploads/${other.body.uploadId}`), 403, "forbidden");
    expectError(await fleet.putPart(other.body.uploadId, 1, bytes(10, 1)), 403, "forbidden");
    expectError(await fleet.json(`/finance/q4.xlsx?action=delete`, { method: "DELETE" }), 403, "forbidden");
  });
});

describe("upload tokens", () => {
  it("grant parts, status and abort of their own upload, and nothing else", async () => {
    const admin = new Pipeline();
    const mine = await create(admin, { key: "tok/mine.bin", parts: 1, partSize: PART });
    const theirs = await create(admin, { key: "tok/theirs.bin", parts: 1, partSize: PART });
    // An HS256 JWT: three base64url segments.
    expect(mine.body.uploadToken).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);

    const device = new Pipeline();
    device.credential = mine.body.uploadToken;
    expect((await device.putPart(mine.body.uploadId, 1, bytes(10, 1))).status).toBe(200);
    expect((await device.json(`/uploads/${mine.body.uploadId}`)).status).toBe(200);

    expectError(await device.json(`/uploads/${theirs.body.uploadId}`), 403, "forbidden");
    expectError(await device.putPart(theirs.body.uploadId, 1, bytes(10, 1)), 403, "forbidden");
    expectError(await create(device, { key: "tok/new.bin" }), 403, "forbidden");
    await env.BUCKET.put("tok/readable.txt", "x");
    expectError(await device.json("/objects/tok/readable.txt"), 403, "forbidden");
    expect((await device.json(`/uploads/${mine.body.uploadId}`, { method: "DELETE" })).status).toBe(200);
  });

  it("refuses tampered, forged and expired tokens with 401", async () => {
    const admin = new Pipeline();
    const upload = await create(admin, { key: "tok/checked.bin", parts: 1, partSize: PART });
    const [prefix, payload, signature] = upload.body.uploadToken.split(".") as [string, string, string];
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as {
      sub: string;
      key: string;
      exp: number;
    };
    const reencode = (value: object) =>
      btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

    const tampered = `${prefix}.${reencode({ ...claims, exp: claims.exp + 3600 })}.${signature}`;
    const forged = await issueUploadToken("someone-elses-secret-0123456789abcdef0123", {
      uploadId: claims.sub,
      key: claims.key,
      expiresAt: claims.exp,
    });
    const expired = await issueUploadToken(env.TOKEN_SECRET, {
      uploadId: claims.sub,
      key: claims.key,
      expiresAt: Math.floor(Date.now() / 1000) - 1,
    });
    const device = new Pipeline();
    for (const [token, code] of [
      [tampered, "invalid_credentials"],
      [forged, "invalid_credentials"],
      [`${prefix}.garbage`, "invalid_credentials"],
      [expired, "token_expired"],
    ] as const) {
      device.credential = token;
      const before = await snapshot();
      expectError(await device.putPart(upload.body.uploadId, 1, bytes(10, 1)), 401, code);
      expect(await snapshot()).toBe(before);
    }
    expect(device.queue.drain()).toEqual([]);
  });
});

describe("reads and defaults", () => {
  it("requires an API key to read objects unless reads are public", async () => {
    await env.BUCKET.put("reads/doc.txt", "hello");
    const anonymous = new Pipeline();
    anonymous.credential = null;
    expectError(await anonymous.json("/objects/reads/doc.txt"), 401, "unauthorized");
    expectError(await anonymous.json("/reads/doc.txt?action=get"), 401, "unauthorized");

    const publicReads = new Pipeline({ producerVars: { PUBLIC_READS: "true" } });
    publicReads.credential = null;
    const response = await publicReads.fetch("/objects/reads/doc.txt");
    expect(response.status).toBe(200);
    expect(new TextDecoder().decode(await response.arrayBuffer())).toBe("hello");
  });

  it("refuses every write when no key is configured, unless anonymous access was opted into", async () => {
    const unconfigured = new Pipeline({ producerVars: { API_KEYS: "" } });
    expectError(await create(unconfigured, { key: "default/a.bin" }), 403, "auth_not_configured");
    unconfigured.credential = null;
    expectError(await create(unconfigured, { key: "default/a.bin" }), 403, "auth_not_configured");

    const open = new Pipeline({ producerVars: { API_KEYS: "", ALLOW_ANONYMOUS: "true" } });
    open.credential = null;
    expect((await create(open, { key: "default/b.bin" })).status).toBe(201);
  });
});

describe("CORS", () => {
  it("answers preflights for configured origins and exposes the upload headers", async () => {
    const pipeline = new Pipeline({ producerVars: { CORS_ORIGINS: "https://app.example" } });
    const preflight = await pipeline.fetch("/uploads", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization, content-digest",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");

    const simple = await pipeline.fetch("/openapi.json", { headers: { origin: "https://app.example" } });
    expect(simple.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("etag");
    const stranger = await pipeline.fetch("/openapi.json", { headers: { origin: "https://evil.example" } });
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();
  });
});
