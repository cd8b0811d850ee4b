import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("smoke", () => {
  it("creates an upload", async () => {
    const res = await exports.default.fetch("http://x/uploads", { method: "POST", body: JSON.stringify({ key: "a/b.bin", parts: 2 }) });
    const body = await res.json();
    console.log(res.status, body);
    expect(res.status).toBe(201);
    const row = await env.DB.prepare("select count(*) as n from uploads").first();
    expect(row).toEqual({ n: 1 });
  });
});
