import { describe, expect, it } from "vitest";
import { FLEET_KEY, Pipeline } from "./helpers";

const TUS = { "tus-resumable": "1.0.0" };

describe("tus requests behind restrictive proxies", () => {
  it("creates at /files as at /files/, and takes X-HTTP-Method-Override as the method", async () => {
    const pipeline = new Pipeline();
    const created = await pipeline.fetch("/files", {
      method: "POST",
      headers: { ...TUS, "upload-length": "10", "upload-metadata": `key ${btoa("rewrite/x.bin")}` },
    });
    expect(created.status).toBe(201);
    const path = new URL(created.headers.get("location") ?? "").pathname;

    const patched = await pipeline.fetch(path, {
      method: "POST",
      headers: {
        ...TUS,
        "x-http-method-override": "PATCH",
        "upload-offset": "0",
        "content-type": "application/offset+octet-stream",
      },
      body: new Uint8Array(10).fill(7),
    });
    expect(patched.status).toBe(204);
    expect(patched.headers.get("upload-offset")).toBe("10");

    const head = await pipeline.fetch(path, { method: "POST", headers: { ...TUS, "x-http-method-override": "HEAD" } });
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe("10");
    expect(head.headers.get("tus-resumable")).toBe("1.0.0");
  });
});

describe("tus discovery with CORS on", () => {
  it("answers a plain OPTIONS with the tus capabilities and a preflight with CORS", async () => {
    const pipeline = new Pipeline({ producerVars: { CORS_ORIGINS: "https://app.example" } });
    const plain = await pipeline.fetch("/files/", { method: "OPTIONS" });
    expect(plain.status).toBe(204);
    expect(plain.headers.get("tus-version")).toBe("1.0.0");

    const preflight = await pipeline.fetch("/files/", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "upload-offset, tus-resumable",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PATCH");
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("upload-offset");
  });

  it("exposes the tus headers to a browser's scripts", async () => {
    const pipeline = new Pipeline({ producerVars: { CORS_ORIGINS: "https://app.example" } });
    const created = await pipeline.fetch("/files/", {
      method: "POST",
      headers: { ...TUS, origin: "https://app.example", "upload-length": "5" },
    });
    expect(created.status).toBe(201);
    const exposed = created.headers.get("access-control-expose-headers")?.toLowerCase() ?? "";
    for (const name of ["location", "upload-offset", "upload-length", "upload-expires", "tus-resumable"]) {
      expect(exposed).toContain(name);
    }
  });
});

describe("tus uploads of a prefix-limited API key", () => {
  it("puts an upload without a key under the API key's own prefix", async () => {
    const pipeline = new Pipeline();
    pipeline.credential = FLEET_KEY;
    const created = await pipeline.fetch("/files/", {
      method: "POST",
      headers: { ...TUS, "upload-length": "3", "upload-metadata": `filename ${btoa("reading.csv")}` },
    });
    expect(created.status).toBe(201);
    const uploadId = new URL(created.headers.get("location") ?? "").pathname.split("/").pop() ?? "";
    const status = await pipeline.status(uploadId);
    expect(status.key).toBe(`devices/uploads/reading-${uploadId}.csv`);
  });

  it("refuses a deferred length over Tus-Max-Size with 413 and keeps the upload deferred", async () => {
    const pipeline = new Pipeline();
    const created = await pipeline.fetch("/files/", {
      method: "POST",
      headers: { ...TUS, "upload-defer-length": "1" },
    });
    const path = new URL(created.headers.get("location") ?? "").pathname;
    const max = Number((await pipeline.fetch("/files/", { method: "OPTIONS" })).headers.get("tus-max-size"));
    const refused = await pipeline.fetch(path, {
      method: "PATCH",
      headers: {
        ...TUS,
        "upload-offset": "0",
        "upload-length": String(max + 1),
        "content-type": "application/offset+octet-stream",
      },
      body: new Uint8Array(0),
    });
    expect(refused.status).toBe(413);
    const head = await pipeline.fetch(path, { method: "HEAD", headers: TUS });
    expect(head.headers.get("upload-defer-length")).toBe("1");
    expect(head.headers.get("upload-offset")).toBe("0");
  });
});
