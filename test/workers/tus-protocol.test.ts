import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bytes, FLEET_KEY, MiB, Pipeline } from "./helpers";
import {
  encodeMetadata,
  errorCode,
  headerList,
  IMF_FIXDATE,
  multipartOpen,
  served,
  stagedKeysOf,
  streamOf,
  TUS_EXTENSIONS,
  TUS_REQUEST_HEADERS,
  TUS_RESPONSE_HEADERS,
  TUS_VERSION,
  Tus,
  tailBytesHeld,
  uploadChecksum,
  uploadCount,
} from "./tus-helpers";

const KiB = 1024;
const fresh = Tus.fresh;
const fleet = { authorization: `Bearer ${FLEET_KEY}` };

describe("tus discovery", () => {
  it("answers OPTIONS without a credential or Tus-Resumable, naming what the server supports", async () => {
    const pipeline = new Pipeline({ producerVars: { TUS_PART_SIZE: String(5 * MiB) } });
    pipeline.credential = null;
    for (const path of ["/files/", "/files/some-id"]) {
      const response = await pipeline.fetch(path, { method: "OPTIONS" });
      expect(response.status, path).toBe(204);
      expect(response.headers.get("tus-resumable")).toBe(TUS_VERSION);
      expect(headerList(response.headers.get("tus-version"))).toContain(TUS_VERSION);
      expect(headerList(response.headers.get("tus-extension")).sort()).toEqual(TUS_EXTENSIONS);
      expect(Number(response.headers.get("tus-max-size"))).toBeGreaterThan(0);
      expect(headerList(response.headers.get("tus-checksum-algorithm"))).toEqual(
        expect.arrayContaining(["sha1", "sha256", "sha384", "sha512", "md5"]),
      );
      expect(response.headers.get("upload-part-size")).toBe(String(5 * MiB));
    }
    const defaults = await new Pipeline().fetch("/files/", { method: "OPTIONS" });
    expect(defaults.headers.get("upload-part-size")).toBe(String(8 * MiB));
  });

  it("refuses POST, HEAD, PATCH and DELETE with 412 when Tus-Resumable is missing or not 1.0.0", async () => {
    const { tus, id } = await fresh(100);
    const before = await tus.view(id);
    const count = await uploadCount();
    for (const version of [null, "0.2.2", "1.0"]) {
      tus.version = version;
      const answers = [await tus.create({ length: 10 }), await tus.head(id)];
      answers.push(await tus.patch(id, 0, bytes(3, 1)), await tus.delete(id));
      const statuses = answers.map((r) => r.status);
      expect(statuses, `Tus-Resumable: ${version}`).toEqual([412, 412, 412, 412]);
      for (const r of answers) expect(headerList(r.headers.get("tus-version"))).toContain(TUS_VERSION);
    }
    tus.version = TUS_VERSION;
    expect(await uploadCount()).toBe(count);
    expect(await tus.view(id)).toEqual(before);
  });
});

describe("tus from a browser (CORS_ORIGINS set)", () => {
  it("allows the tus methods and headers in a preflight and exposes the tus headers on answers", async () => {
    const tus = new Tus(new Pipeline({ producerVars: { CORS_ORIGINS: "https://app.example" } }));
    const origin = { origin: "https://app.example" };
    const preflight = await tus.pipeline.fetch("/files/some-id", {
      method: "OPTIONS",
      headers: {
        ...origin,
        "access-control-request-method": "PATCH",
        "access-control-request-headers": TUS_REQUEST_HEADERS.join(","),
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin.origin);
    expect(headerList(preflight.headers.get("access-control-allow-methods"))).toEqual(
      expect.arrayContaining(["POST", "HEAD", "PATCH", "DELETE"]),
    );
    const allowed = headerList(preflight.headers.get("access-control-allow-headers")).map((h) => h.toLowerCase());
    expect(allowed).toEqual(expect.arrayContaining(TUS_REQUEST_HEADERS));

    const created = await tus.create({ length: 10, headers: origin });
    const exposed = headerList(created.headers.get("access-control-expose-headers")).map((h) => h.toLowerCase());
    expect(exposed).toEqual(expect.arrayContaining(TUS_RESPONSE_HEADERS));
  });

  it("answers a cross-origin OPTIONS that is no preflight as tus discovery", async () => {
    const tus = new Tus(new Pipeline({ producerVars: { CORS_ORIGINS: "https://app.example" } }));
    const origin = { origin: "https://app.example" };
    // No Access-Control-Request-Method: the browser's actual OPTIONS request, after its preflight.
    const discovery = await tus.pipeline.fetch("/files/", { method: "OPTIONS", headers: origin });
    expect(discovery.headers.get("tus-version")).toBe(TUS_VERSION);
    expect(discovery.headers.get("tus-extension")).not.toBeNull();
  });
});

describe("tus creation", () => {
  it("creates an upload: 201, an absolute Location, a future Upload-Expires, known to the status API", async () => {
    const tus = new Tus(new Pipeline());
    const { id, path, response } = await tus.open({ length: 1234 });
    expect(response.headers.get("tus-resumable")).toBe(TUS_VERSION);
    const expires = response.headers.get("upload-expires");
    expect(expires).toMatch(IMF_FIXDATE);
    expect(Date.parse(expires!)).toBeGreaterThan(Date.now());
    expect(response.headers.get("upload-part-size")).toBe(String(8 * MiB));
    expect(path).toBe(`/files/${id}`);

    const status = await tus.pipeline.status(id);
    expect(status).toMatchObject({ uploadId: id, api: "tus", state: "open" });
    const head = await tus.head(id);
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe("0");
    expect(head.headers.get("upload-length")).toBe("1234");
    expect(head.headers.get("cache-control")).toBe("no-store");
    expect(head.headers.get("tus-resumable")).toBe(TUS_VERSION);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it("refuses a bad create with 400, 401, 403 or 413 and creates nothing", async () => {
    const tus = new Tus(new Pipeline());
    const max = Number((await tus.pipeline.fetch("/files/", { method: "OPTIONS" })).headers.get("tus-max-size"));
    const meta = (raw: string) => ({ length: 10, headers: { "upload-metadata": raw } });
    const cases: [string, Parameters<Tus["create"]>[0], number, string?][] = [
      ["neither length", {}, 400],
      ["both lengths", { length: 10, defer: true }, 400],
      ["Upload-Defer-Length: 2", { headers: { "upload-defer-length": "2" } }, 400],
      ["negative length", { headers: { "upload-length": "-1" } }, 400],
      ["length not a number", { headers: { "upload-length": "ten" } }, 400],
      ["over Tus-Max-Size", { length: max + 1 }, 413],
      ["creation-with-upload body beyond Upload-Length", { length: 100, body: bytes(200, 25) }, 413],
      ["metadata not base64", meta("filename not*base64!"), 400],
      ["metadata of three words", meta("a b c"), 400],
      ["metadata key twice", meta("a YQ==,a Yg=="), 400],
      ["metadata empty key", meta(" ,"), 400],
      ["invalid key", { length: 10, metadata: { key: "tus/../escape.bin" } }, 400],
      ["metadata over 8 KiB", { length: 10, metadata: { note: "x".repeat(9000) } }, 400, "metadata_too_large"],
      ["no credential", { length: 10, headers: { authorization: "" } }, 401],
      ["key outside the API key's prefix", { length: 10, metadata: { key: "elsewhere/x.bin" }, headers: fleet }, 403],
    ];
    const before = await uploadCount();
    for (const [what, options, status, code] of cases) {
      const response = await tus.create(options);
      expect.soft(response.status, what).toBe(status);
      if (code !== undefined) expect.soft(await errorCode(response), what).toBe(code);
    }
    expect(await uploadCount()).toBe(before);
  });

  it("keeps the bytes sent with the create (creation-with-upload) and answers their Upload-Offset", async () => {
    const tus = new Tus(new Pipeline());
    const data = bytes(3000, 1);
    const { id, response } = await tus.open({
      length: 3000,
      body: data.subarray(0, 1000),
      metadata: { key: "tus/cwu.bin" },
    });
    expect(response.headers.get("upload-offset")).toBe("1000");
    expect(await tus.offset(id)).toBe(1000);
    await tus.send(id, data, { from: 1000 });
    await tus.pipeline.settle();
    expect(await tus.object("tus/cwu.bin")).toEqual(await served(data));
  });
});

describe("tus authorization", () => {
  it("lets the upload's Upload-Token reach that upload only; another API key's refusals change nothing", async () => {
    const tus = new Tus(new Pipeline());
    const mine = await tus.open({ length: 20, metadata: { key: "tus/token.bin" } });
    const other = await tus.open({ length: 20, metadata: { key: "tus/other.bin" } });
    const token = { authorization: `Bearer ${mine.response.headers.get("upload-token")}` };
    expect((await tus.head(mine.id, token)).status).toBe(200);
    expect((await tus.patch(mine.id, 0, bytes(10, 30), token)).status).toBe(204);
    expect((await tus.head(other.id, token)).status).toBe(403);
    expect((await tus.patch(other.id, 0, bytes(10, 31), token)).status).toBe(403);
    expect((await tus.create({ length: 5, headers: token })).status).toBe(403);

    const before = await tus.view(mine.id);
    expect((await tus.head(mine.id, fleet)).status).toBe(403);
    expect((await tus.patch(mine.id, 10, bytes(10, 32), fleet)).status).toBe(403);
    expect((await tus.delete(mine.id, fleet)).status).toBe(403);
    expect((await tus.patch(mine.id, 10, bytes(10, 32), { authorization: "" })).status).toBe(401);
    expect(await tus.view(mine.id)).toEqual(before);
  });
});

describe("tus PATCH refusals keep nothing", () => {
  it("answers 415 to a body that is not application/offset+octet-stream", async () => {
    const { tus, id } = await fresh(100);
    const before = await tus.view(id);
    for (const type of ["application/octet-stream", "text/plain"]) {
      expect((await tus.patch(id, 0, bytes(10, 2), { "content-type": type })).status).toBe(415);
    }
    expect(await tus.view(id)).toEqual(before);
  });

  it("answers 409 to a PATCH at any offset but the current one", async () => {
    const { tus, id } = await fresh(1000);
    await tus.send(id, bytes(100, 3));
    const before = await tus.view(id);
    for (const offset of [0, 50, 99, 101, 200]) {
      const response = await tus.patch(id, offset, bytes(10, 4));
      expect(response.status).toBe(409);
      expect(response.headers.get("tus-resumable")).toBe(TUS_VERSION);
    }
    expect(await tus.view(id)).toEqual(before);
    expect(before.offset).toBe("100");
  });

  it("accepts bytes whose Upload-Checksum matches, in each algorithm OPTIONS names", async () => {
    const { tus, id } = await fresh(500);
    for (const [n, algorithm] of (["sha1", "sha256", "sha384", "sha512", "md5"] as const).entries()) {
      const data = bytes(100, 5 + n);
      const response = await tus.patch(id, n * 100, data, { "upload-checksum": await uploadChecksum(algorithm, data) });
      expect(response.status, algorithm).toBe(204);
      expect(response.headers.get("upload-offset")).toBe(String(n * 100 + 100));
      expect(response.headers.get("tus-resumable")).toBe(TUS_VERSION);
      if (n < 4) expect(response.headers.get("upload-expires")).toMatch(IMF_FIXDATE);
    }
  });

  it("answers 460 when the checksum does not match and 400 to an unsupported algorithm, keeping nothing", async () => {
    const { tus, id } = await fresh(200);
    const before = await tus.view(id);
    for (const algorithm of ["sha1", "sha256"] as const) {
      const checksum = await uploadChecksum(algorithm, bytes(100, 7));
      expect((await tus.patch(id, 0, bytes(100, 8), { "upload-checksum": checksum })).status).toBe(460);
    }
    for (const checksum of ["crc32 AAAAAA==", "md4 AAAAAAAAAAAAAAAAAAAAAA==", "sha256"]) {
      expect((await tus.patch(id, 0, bytes(10, 11), { "upload-checksum": checksum })).status, checksum).toBe(400);
    }
    expect(await tus.view(id)).toEqual(before);
  });

  it("answers 460 and keeps nothing when a mismatching PATCH crosses a part boundary", async () => {
    const { tus, id } = await fresh(12 * MiB);
    const data = bytes(9 * MiB, 9);
    const wrong = await uploadChecksum("sha256", bytes(16, 10));
    expect((await tus.patch(id, 0, data, { "upload-checksum": wrong })).status).toBe(460);
    expect(await tus.offset(id)).toBe(0);
    expect(tus.partEvents(id)).toBe(0);

    const right = await tus.patch(id, 0, data, { "upload-checksum": await uploadChecksum("sha256", data) });
    expect(right.status).toBe(204);
    expect(await tus.offset(id)).toBe(9 * MiB);
    expect(tus.partEvents(id)).toBe(1);
  });

  it("answers 413 to bytes beyond Upload-Length, then takes the bytes that fit", async () => {
    const { tus, id } = await fresh(100);
    await tus.send(id, bytes(60, 12));
    const before = await tus.view(id);
    expect((await tus.patch(id, 60, bytes(41, 13))).status).toBe(413);
    expect(await tus.view(id)).toEqual(before);
    expect((await tus.patch(id, 60, bytes(40, 13))).status).toBe(204);
  });

  it("answers 413 and keeps nothing when a deferred length comes in over Tus-Max-Size", async () => {
    const tus = new Tus(new Pipeline());
    const max = Number((await tus.pipeline.fetch("/files/", { method: "OPTIONS" })).headers.get("tus-max-size"));
    const { id } = await tus.open({ defer: true });
    const before = await tus.view(id);
    expect((await tus.patch(id, 0, bytes(10, 27), { "upload-length": String(max + 1) })).status).toBe(413);
    expect(await tus.view(id)).toEqual(before);
    expect((await tus.head(id)).headers.get("upload-defer-length")).toBe("1");
  });

  it("answers 413 and keeps nothing when a body of unknown length runs past Upload-Length", async () => {
    const { tus, id } = await fresh(5 * MiB + 10, { TUS_PART_SIZE: String(5 * MiB) });
    const before = await tus.view(id);
    // No Content-Length: the server only finds out at the 5 MiB + 11th byte, past a whole part.
    const response = await tus.patch(id, 0, streamOf(bytes(5 * MiB + 20, 24)));
    expect(response.status).toBe(413);
    expect(await tus.view(id)).toEqual(before);
  });
});

describe("tus uploads end at Upload-Length", () => {
  it("learns a deferred length from a later PATCH, refuses a conflicting one, and completes", async () => {
    const tus = new Tus(new Pipeline());
    const { id } = await tus.open({ defer: true, metadata: { key: "tus/deferred.bin" } });
    const data = bytes(300, 14);
    expect((await tus.head(id)).headers.get("upload-defer-length")).toBe("1");
    await tus.send(id, data.subarray(0, 100));
    const withLength = await tus.patch(id, 100, data.subarray(100, 200), { "upload-length": "300" });
    expect(withLength.status).toBe(204);
    const head = await tus.head(id);
    expect(head.headers.get("upload-length")).toBe("300");
    expect(head.headers.get("upload-defer-length")).toBeNull();
    expect((await tus.patch(id, 200, data.subarray(200), { "upload-length": "400" })).status).toBe(400);
    expect(await tus.offset(id)).toBe(200);
    await tus.send(id, data, { from: 200 });
    await tus.pipeline.settle();
    expect((await tus.pipeline.status(id)).state).toBe("completed");
    expect(await tus.object("tus/deferred.bin")).toEqual(await served(data));
  });

  it("completes a deferred upload whose length, learned by a 0-byte PATCH, ends on a part boundary", async () => {
    const tus = new Tus(new Pipeline({ producerVars: { TUS_PART_SIZE: String(5 * MiB) } }));
    const { id } = await tus.open({ defer: true, metadata: { key: "tus/boundary.bin" } });
    const data = bytes(5 * MiB, 26);
    await tus.send(id, data);
    const last = await tus.patch(id, data.byteLength, new Uint8Array(0), { "upload-length": String(data.byteLength) });
    expect(last.status).toBe(204);
    await tus.pipeline.settle();
    expect((await tus.pipeline.status(id)).state).toBe("completed");
    expect(await tus.object("tus/boundary.bin")).toEqual(await served(data));
  });

  it("completes an empty upload at creation, with no PATCH (tus-js-client sends none)", async () => {
    const tus = new Tus(new Pipeline());
    const { id } = await tus.open({ length: 0, metadata: { key: "tus/empty.bin" } });
    await tus.pipeline.settle();
    expect((await tus.pipeline.status(id)).state).toBe("completed");
    expect(await tus.object("tus/empty.bin")).toEqual(await served(new Uint8Array(0)));
  });

  it("completes when a PATCH reaches Upload-Length, with no complete call, from PATCHes that straddle parts", async () => {
    const tus = new Tus(new Pipeline({ producerVars: { TUS_PART_SIZE: String(5 * MiB) } }));
    const data = bytes(10 * MiB + 12345, 18);
    const { id } = await tus.open({ length: data.byteLength, metadata: { key: "tus/straddle.bin" } });
    // A first PATCH of 1,000 bytes puts every later 64 KiB boundary off the 5 MiB part boundaries.
    await tus.send(id, data.subarray(0, 1000));
    await tus.send(id, data, { from: 1000, chunk: 64 * KiB });
    expect(await tus.offset(id)).toBe(data.byteLength);
    await tus.pipeline.settle();
    const status = await tus.pipeline.status(id);
    expect(status.state).toBe("completed");
    expect(status.object?.size).toBe(data.byteLength);
    expect(await tus.object("tus/straddle.bin")).toEqual(await served(data));
    // A finished upload still says where it stands, and no longer expires.
    const head = await tus.head(id);
    expect(head.status).toBe(200);
    expect(head.headers.get("upload-offset")).toBe(String(data.byteLength));
    expect(head.headers.get("upload-length")).toBe(String(data.byteLength));
    expect(head.headers.get("upload-expires")).toBeNull();
  });

  it("completes from PATCHes of exactly one part each, and from bodies of unknown length", async () => {
    const tus = new Tus(new Pipeline({ producerVars: { TUS_PART_SIZE: String(5 * MiB) } }));
    const data = bytes(3 * 5 * MiB + 1, 28);
    const aligned = await tus.open({ length: data.byteLength, metadata: { key: "tus/aligned.bin" } });
    await tus.send(aligned.id, data, { chunk: 5 * MiB });
    const chunked = await tus.open({ length: data.byteLength, metadata: { key: "tus/chunked.bin" } });
    // No Content-Length: 7 MiB, then the rest, each streamed in 64 KiB pieces.
    const pieces: [number, number][] = [
      [0, 7 * MiB],
      [7 * MiB, data.byteLength],
    ];
    for (const [from, to] of pieces) {
      const response = await tus.patch(chunked.id, from, streamOf(data.subarray(from, to)));
      expect(response.status).toBe(204);
      expect(response.headers.get("upload-offset")).toBe(String(to));
    }
    await tus.pipeline.settle();
    expect(await tus.object("tus/aligned.bin")).toEqual(await served(data));
    expect(await tus.object("tus/chunked.bin")).toEqual(await served(data));
  });
});

describe("tus termination", () => {
  it("answers DELETE with 204, then 410 to HEAD and PATCH, and leaves no staged bytes", async () => {
    const { tus, id } = await fresh(12 * MiB, { TUS_PART_SIZE: String(5 * MiB) });
    await tus.send(id, bytes(6 * MiB, 20));
    // Staged: one part in R2, and 1 MiB held back by the upload's Durable Object.
    expect(await multipartOpen(id)).toBe(true);
    expect(await tailBytesHeld(id)).toBe(MiB);
    const deleted = await tus.delete(id);
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get("tus-resumable")).toBe(TUS_VERSION);
    const gone = await tus.head(id);
    expect(gone.status).toBe(410);
    // tus 1.0: a HEAD for a gone upload carries no Upload-Offset.
    expect(gone.headers.get("upload-offset")).toBeNull();
    expect(gone.headers.get("tus-resumable")).toBe(TUS_VERSION);
    expect((await tus.patch(id, 6 * MiB, bytes(10, 21))).status).toBe(410);
    await tus.pipeline.settle();
    expect(await multipartOpen(id)).toBe(false);
    expect(await tailBytesHeld(id)).toBe(0);
    expect(await stagedKeysOf(id)).toEqual([]);
    expect((await tus.pipeline.status(id)).state).toBe("aborted");
  });

  it("answers 404 to HEAD, PATCH and DELETE of an upload that never existed", async () => {
    const tus = new Tus(new Pipeline());
    const unknown = await tus.head("no-such-upload");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("upload-offset")).toBeNull();
    expect((await tus.patch("no-such-upload", 0, bytes(1, 22))).status).toBe(404);
    expect((await tus.delete("no-such-upload")).status).toBe(404);
  });
});

describe("tus metadata", () => {
  it("echoes Upload-Metadata, names the object after filename under uploads/ and serves it as filetype", async () => {
    const tus = new Tus(new Pipeline());
    const fields = { filename: "holiday.jpg", filetype: "image/jpeg", camera: "7" };
    const { id } = await tus.open({ length: 50, metadata: fields });
    expect((await tus.head(id)).headers.get("upload-metadata")).toBe(encodeMetadata(fields));
    const { key } = await tus.pipeline.status(id);
    expect(key.startsWith("uploads/")).toBe(true);
    expect(key).toContain(id);
    expect(key.endsWith(".jpg")).toBe(true);

    const data = bytes(50, 23);
    await tus.send(id, data);
    await tus.pipeline.settle();
    const response = await tus.pipeline.fetch(`/objects/${key}`);
    expect(response.headers.get("content-type")).toBe("image/jpeg");
    expect(await served(new Uint8Array(await response.arrayBuffer()))).toEqual(await served(data));
    expect((await env.BUCKET.head(key))?.customMetadata).toMatchObject({ camera: "7", filename: "holiday.jpg" });
  });

  it("stores under the key metadata when given, and under uploads/{id} with neither key nor filename", async () => {
    const tus = new Tus(new Pipeline());
    const named = await tus.open({ length: 5, metadata: { key: "tus/named.bin" } });
    expect((await tus.pipeline.status(named.id)).key).toBe("tus/named.bin");
    const bare = await tus.open({ length: 5 });
    expect((await tus.pipeline.status(bare.id)).key).toBe(`uploads/${bare.id}`);
  });
});
