import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { UploadStatus } from "../../shared/schemas";
import { bytes, concat, PART, Pipeline, sha256 } from "./helpers";

type Created = { key: string; uploadId: string };
type Uploaded = { partNumber: number; etag: string };

const HOUR = 60 * 60 * 1000;

async function mpuCreate(pipeline: Pipeline, key: string): Promise<Created> {
  const { status, body } = await pipeline.json<Created>(`/${key}?action=mpu-create`, { method: "POST" });
  expect(status).toBe(200);
  return body;
}

function mpuUploadPart(pipeline: Pipeline, key: string, uploadId: string, partNumber: number, data: Uint8Array) {
  return pipeline.json<Uploaded>(`/${key}?action=mpu-uploadpart&uploadId=${uploadId}&partNumber=${partNumber}`, {
    method: "PUT",
    body: data,
    headers: { "content-length": String(data.byteLength) },
  });
}

describe("seed-compatible API", () => {
  it("runs the example's whole flow: create, parallel parts, complete, get, delete", async () => {
    const pipeline = new Pipeline();
    const key = "compat/flow.bin";
    const { uploadId, key: createdKey } = await mpuCreate(pipeline, key);
    expect(createdKey).toBe(key);

    const data = [bytes(PART, 1), bytes(PART, 2), bytes(777, 3)];
    const uploaded = await Promise.all(data.map((part, i) => mpuUploadPart(pipeline, key, uploadId, i + 1, part)));
    for (const [i, response] of uploaded.entries()) {
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ partNumber: i + 1, etag: expect.any(String) });
    }

    const complete = await pipeline.fetch(`/${key}?action=mpu-complete&uploadId=${uploadId}`, {
      method: "POST",
      body: JSON.stringify({ parts: uploaded.map((response) => response.body).reverse() }),
    });
    expect(complete.status).toBe(200);
    expect(complete.headers.get("etag")).toMatch(/^".+"$/);

    const get = await pipeline.fetch(`/${key}?action=get`);
    expect(get.status).toBe(200);
    expect(get.headers.get("etag")).toBe(complete.headers.get("etag"));
    expect(await sha256(await get.arrayBuffer())).toBe(await sha256(concat(...data)));
    expect((await pipeline.status(uploadId)).state).toBe("completed");

    expect((await pipeline.fetch(`/${key}?action=delete`, { method: "DELETE" })).status).toBe(204);
    expect((await pipeline.fetch(`/${key}?action=get`)).status).toBe(404);
  });

  it("tallies the parts of compatible uploads in D1", async () => {
    const pipeline = new Pipeline();
    const key = "compat/tally.bin";
    const { uploadId } = await mpuCreate(pipeline, key);
    await mpuUploadPart(pipeline, key, uploadId, 1, bytes(PART, 4));
    await mpuUploadPart(pipeline, key, uploadId, 3, bytes(10, 5));
    await pipeline.deliver(pipeline.queue.drain());
    const status = await pipeline.status(uploadId);
    expect(status).toMatchObject({ api: "compat", state: "open", receivedParts: 2, missingParts: ["2"] });
  });

  it("answers a refused complete with 400 and lets the client try again", async () => {
    const pipeline = new Pipeline();
    const key = "compat/retry.bin";
    const { uploadId } = await mpuCreate(pipeline, key);
    const part = (await mpuUploadPart(pipeline, key, uploadId, 1, bytes(10, 6))).body;
    const url = `/${key}?action=mpu-complete&uploadId=${uploadId}`;

    const wrong = await pipeline.json(url, {
      method: "POST",
      body: JSON.stringify({ parts: [{ partNumber: 1, etag: "bogus" }] }),
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { code: "complete_refused" } });
    expect((await pipeline.status(uploadId)).state).toBe("open");

    const right = await pipeline.fetch(url, { method: "POST", body: JSON.stringify({ parts: [part] }) });
    expect(right.status).toBe(200);
  });

  it("aborts with 204 and sweeps abandoned compatible uploads", async () => {
    const pipeline = new Pipeline();
    const aborted = await mpuCreate(pipeline, "compat/abort.bin");
    const response = await pipeline.fetch(`/compat/abort.bin?action=mpu-abort&uploadId=${aborted.uploadId}`, {
      method: "DELETE",
    });
    expect(response.status).toBe(204);
    expect((await pipeline.status(aborted.uploadId)).state).toBe("aborted");

    const abandoned = await mpuCreate(pipeline, "compat/abandoned.bin");
    await pipeline.cron(Date.now() + 25 * HOUR);
    const swept = await pipeline.json<UploadStatus>(`/uploads/${abandoned.uploadId}`);
    expect(swept.body).toMatchObject({ state: "aborted", abortReason: "stale" });
  });

  it.each([
    ["an unknown action", "POST", "/compat/x.bin?action=explode", 400, "unknown_action"],
    ["a part without an upload id", "PUT", "/compat/x.bin?action=mpu-uploadpart&partNumber=1", 400, "invalid_request"],
    [
      "a part of an unknown upload",
      "PUT",
      "/compat/x.bin?action=mpu-uploadpart&uploadId=nope&partNumber=1",
      400,
      "upload_not_found",
    ],
    ["a complete without a body", "POST", "/compat/x.bin?action=mpu-complete&uploadId=nope", 400, "invalid_json"],
    ["a get of a missing object", "GET", "/compat/missing.bin?action=get", 404, "object_not_found"],
    ["an unsupported method", "PATCH", "/compat/x.bin?action=get", 405, "method_not_allowed"],
  ])("refuses %s with the example's status and the JSON error body", async (_, method, path, status, code) => {
    const pipeline = new Pipeline();
    const init: RequestInit = { method };
    if (method === "PUT") Object.assign(init, { body: bytes(10, 1), headers: { "content-length": "10" } });
    const response = await pipeline.json(path, init);
    expect(response.status).toBe(status);
    expect(response.body).toEqual({ error: expect.objectContaining({ code }) });
    if (status === 405) expect(response.headers.get("allow")).toBe("PUT, POST, GET, DELETE");
    expect(pipeline.queue.drain()).toEqual([]);
  });

  it("keeps the example's raw-path keys: the key is not URL-decoded", async () => {
    const pipeline = new Pipeline();
    const { key } = await mpuCreate(pipeline, "compat/a%20b.bin");
    expect(key).toBe("compat/a%20b.bin");
    const row = await env.DB.prepare("SELECT object_key FROM uploads WHERE object_key = ?1").bind(key).first();
    expect(row).toEqual({ object_key: "compat/a%20b.bin" });
  });
});
