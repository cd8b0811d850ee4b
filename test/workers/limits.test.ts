import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { FLEET_KEY, Pipeline, storedState } from "./helpers";

const limited = () => new Pipeline({ producerVars: { MAX_OPEN_UPLOADS_PER_KEY: "3", MAX_OPEN_STREAMS_PER_KEY: "2" } });
const post = (body: unknown) => ({ method: "POST", body: JSON.stringify(body) });

describe("per-key limits on open uploads", () => {
  // Storage is shared by the tests of a file: each starts with no open upload for any key.
  beforeEach(async () => {
    await env.DB.prepare("UPDATE uploads SET state = 'aborted' WHERE state = 'open'").run();
  });

  it("answers 429 with Retry-After past the limit, writing nothing, and lets the key create again once one ends", async () => {
    const pipeline = limited();
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await pipeline.create({ key: `limits/${i}.bin` }));

    const before = await storedState();
    const refused = await pipeline.json<{ error: { code: string; details: unknown } }>(
      "/uploads",
      post({ key: "limits/over.bin" }),
    );
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.body.error).toMatchObject({ code: "too_many_open_uploads", details: { limit: 3, mode: "parts" } });
    expect(await storedState()).toBe(before);

    expect((await pipeline.json(`/uploads/${open[0]!.uploadId}`, { method: "DELETE" })).status).toBe(200);
    expect((await pipeline.json("/uploads", post({ key: "limits/again.bin" }))).status).toBe(201);
  });

  it("counts each key on its own, and the seed API's creates with the native ones", async () => {
    const pipeline = limited();
    for (let i = 0; i < 2; i++) await pipeline.create({ key: `limits/mixed-${i}.bin` });
    expect((await pipeline.json("/limits/mixed-2.bin?action=mpu-create", { method: "POST" })).status).toBe(200);
    expect((await pipeline.json("/limits/mixed-3.bin?action=mpu-create", { method: "POST" })).status).toBe(429);

    const fleet = limited();
    fleet.credential = FLEET_KEY;
    expect((await fleet.json("/uploads", post({ key: "devices/a.bin" }))).status).toBe(201);
  });

  it("limits open streams separately from parts uploads", async () => {
    const pipeline = limited();
    await pipeline.create({ key: "limits/s1.bin", mode: "stream" });
    await pipeline.create({ key: "limits/s2.bin", mode: "stream" });
    const refused = await pipeline.json<{ error: { code: string } }>(
      "/uploads",
      post({ key: "limits/s3.bin", mode: "stream" }),
    );
    expect(refused.status).toBe(429);
    expect((await pipeline.json("/uploads", post({ key: "limits/p.bin" }))).status).toBe(201);
  });

  it("never lets concurrent creates overshoot the limit", async () => {
    const pipeline = limited();
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => pipeline.json("/uploads", post({ key: `limits/race-${i}.bin` }))),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(5);
    const open = await env.DB.prepare("SELECT count(*) AS n FROM uploads WHERE object_key LIKE 'limits/race-%'").first<{
      n: number;
    }>();
    expect(open?.n).toBe(3);
  });
});
