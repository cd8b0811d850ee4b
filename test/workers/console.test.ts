// The console's files (web/dist) live in the console Worker; the producer forwards to it the
// GET and HEAD requests its API has no route for, so the console and the API share one origin.
import { describe, expect, it } from "vitest";
import { Pipeline } from "./helpers";

describe("the console through the producer", () => {
  it("serves the web app's page at / and the scripts it links", async () => {
    const pipeline = new Pipeline();
    const page = await pipeline.fetch("/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await pipeline.fetch(`/${script}`, { method: "HEAD" });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
  });

  it("answers a revalidation from the console with 304, as the asset service does", async () => {
    const pipeline = new Pipeline();
    const first = await pipeline.fetch("/");
    await first.arrayBuffer();
    const etag = first.headers.get("etag");
    expect(etag).not.toBeNull();
    const again = await pipeline.fetch("/", { headers: { "if-none-match": etag ?? "" } });
    expect(again.status).toBe(304);
  });

  it("serves the console's files to a cross-origin request when CORS is configured", async () => {
    const pipeline = new Pipeline({ producerVars: { CORS_ORIGINS: "https://app.example" } });
    const page = await pipeline.fetch("/", { headers: { origin: "https://app.example" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(await page.text()).toMatch(/<html/);
  });

  it("answers a path that is neither the API's nor a file with the API's JSON 404", async () => {
    const response = await new Pipeline().json("/no-such-page.html");
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: expect.objectContaining({ code: "not_found" }) });
  });

  it("forwards reads only: a POST to a file's path is the API's 404", async () => {
    const response = await new Pipeline().json("/index.html", { method: "POST", body: "x" });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: expect.objectContaining({ code: "not_found" }) });
  });

  it("keeps the API's own paths away from the console, credentials and all", async () => {
    const pipeline = new Pipeline();
    pipeline.credential = null;
    const response = await pipeline.json("/uploads");
    expect(response.status).toBe(401);
  });

  it("serves the API alone when the console is not bound: its paths 404, the document 503", async () => {
    const pipeline = new Pipeline({ webConsole: undefined });
    const page = await pipeline.json("/");
    expect(page.status).toBe(404);
    expect(page.body).toEqual({ error: expect.objectContaining({ code: "not_found" }) });
    const document = await pipeline.json("/openapi.json");
    expect(document.status).toBe(503);
    expect(document.body).toEqual({ error: expect.objectContaining({ code: "document_unavailable" }) });
    expect((await pipeline.json("/healthz")).status).toBe(200);
  });
});
