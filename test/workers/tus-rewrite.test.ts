import { describe, expect, it } from "vitest";
import { Pipeline } from "./helpers";

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
