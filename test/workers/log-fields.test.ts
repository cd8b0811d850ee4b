import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { COMPLETION_POLICY } from "../../shared/completion";
import { flakyDb, probeBucket, r2Error } from "./faults";
import { bytes, captureLogs, PART, Pipeline } from "./helpers";

/**
 * What operators search logs by: every line about an upload names it (uploadId) and its object
 * (key), and every warning or error says what went wrong as a code.
 */

/** A D1 binding whose inserts of uploads fail, as D1 does when it is unavailable. */
function failingInserts(real: D1Database): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop !== "prepare") {
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (sql: string) => {
        const statement = target.prepare(sql);
        if (!sql.trimStart().startsWith("INSERT INTO uploads")) return statement;
        return new Proxy(statement, {
          get(inner, name) {
            if (name === "bind") return () => ({ run: () => Promise.reject(new Error("D1_ERROR: injected failure")) });
            return Reflect.get(inner, name);
          },
        });
      };
    },
  });
}

describe("log lines", () => {
  it("register_upload_failed names the upload, its key and the code the client got", async () => {
    const logs = captureLogs(["register_upload_failed"]);
    const response = await new Pipeline({ db: failingInserts(env.DB) }).json("/uploads", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "logs/unregistered.bin", parts: 1, partSize: PART }),
    });
    expect(response.status).toBe(503);
    const [line] = logs.named("register_upload_failed");
    expect(line).toMatchObject({ level: "error", key: "logs/unregistered.bin", code: "database_unavailable" });
    expect(line?.uploadId).toEqual(expect.any(String));
    expect(response.body).toMatchObject({ error: { code: "database_unavailable" } });
  });

  it("upload_part_failed, record_part_failed and enqueue_failed name the upload, its key and a code", async () => {
    const logs = captureLogs(["upload_part_failed", "record_part_failed", "enqueue_failed"]);
    const pipeline = new Pipeline();
    const upload = await pipeline.create({ key: "logs/part.bin", parts: 1, partSize: PART });
    const named = { uploadId: upload.uploadId, key: "logs/part.bin", partNumber: 1 };

    const r2Down = probeBucket(env.BUCKET, {
      beforeUploadPart: () => {
        throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    expect((await new Pipeline({ bucket: r2Down.bucket }).putPart(upload.uploadId, 1, bytes(10, 1))).status).toBe(503);
    const d1Down = flakyDb(env.DB, () => true);
    expect((await new Pipeline({ db: d1Down }).putPart(upload.uploadId, 1, bytes(10, 1))).status).toBe(503);
    pipeline.queue.failing = true;
    expect((await pipeline.putPart(upload.uploadId, 1, bytes(10, 1))).status).toBe(503);

    expect(logs.named("upload_part_failed")).toEqual([
      expect.objectContaining({ ...named, code: "storage_unavailable" }),
    ]);
    expect(logs.named("record_part_failed")).toEqual([
      expect.objectContaining({ ...named, code: "database_unavailable" }),
    ]);
    expect(logs.named("enqueue_failed")).toEqual([expect.objectContaining({ ...named, code: "enqueue_failed" })]);
  });

  it("completion_error is one line per claimed upload, with its key and the code of what failed", async () => {
    const producer = new Pipeline();
    const uploads = [
      await producer.create({ key: "logs/first.bin", parts: 1, partSize: PART }),
      await producer.create({ key: "logs/second.bin", parts: 1, partSize: PART }),
    ];
    for (const [i, upload] of uploads.entries()) await producer.putPart(upload.uploadId, 1, bytes(10 + i, i));
    const events = producer.queue.drain();

    // The tally's batch goes through; the batch recording the outcomes does not.
    const logs = captureLogs(["completion_error", "retrying_messages"]);
    const consumer = new Pipeline({ db: flakyDb(env.DB, (call) => call === 2) });
    const result = await consumer.deliver(events);
    expect(result.retryMessages).toHaveLength(2);
    expect(logs.named("completion_error")).toEqual(
      uploads.map((upload) =>
        expect.objectContaining({ level: "error", uploadId: upload.uploadId, key: upload.key, code: "d1_error" }),
      ),
    );
    expect(logs.named("retrying_messages")).toEqual([
      expect.objectContaining({
        why: "completion_retry",
        code: "completion_retry",
        uploadIds: uploads.map((upload) => upload.uploadId),
        keys: uploads.map((upload) => upload.key),
      }),
    ]);

    // The claims stay until their lease runs out; then the cron recognises what R2 completed.
    await producer.cron(Date.now() + COMPLETION_POLICY.leaseMs + 1000);
    for (const upload of uploads) expect((await producer.status(upload.uploadId)).state).toBe("completed");
  });

  it("completion logs carry the key, and a retried completion its code", async () => {
    const logs = captureLogs(["completion_completed", "completion_retry", "retrying_messages"]);
    let failures = 1;
    const flaky = probeBucket(env.BUCKET, {
      beforeComplete: () => {
        if (failures-- > 0) throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const pipeline = new Pipeline({ bucket: flaky.bucket });
    const upload = await pipeline.create({ key: "logs/retried.bin", parts: 1, partSize: PART });
    await pipeline.putPart(upload.uploadId, 1, bytes(10, 7));
    await pipeline.settle();
    expect(logs.named("completion_retry")).toEqual([
      expect.objectContaining({ uploadId: upload.uploadId, key: upload.key, code: "r2_unavailable" }),
    ]);
    expect(logs.named("completion_completed")).toEqual([
      expect.objectContaining({ uploadId: upload.uploadId, key: upload.key }),
    ]);
  });

  it("r2_abort_failed names the upload and its key, with a code", async () => {
    const logs = captureLogs(["r2_abort_failed"]);
    const r2Down = probeBucket(env.BUCKET, {
      beforeAbort: () => {
        throw r2Error("We encountered an internal error. Please try again.", 10001);
      },
    });
    const pipeline = new Pipeline({ bucket: r2Down.bucket });
    const upload = await pipeline.create({ key: "logs/abort.bin", parts: 2, partSize: PART });
    expect((await pipeline.json(`/uploads/${upload.uploadId}`, { method: "DELETE" })).status).toBe(200);
    expect(logs.named("r2_abort_failed")).toEqual([
      expect.objectContaining({ level: "warn", uploadId: upload.uploadId, key: upload.key, code: "r2_unavailable" }),
    ]);
  });

  it("malformed_message has a code even though it names no upload", async () => {
    const logs = captureLogs(["malformed_message"]);
    await new Pipeline().deliver([{ type: "part.uploaded" }]);
    expect(logs.named("malformed_message")).toEqual([expect.objectContaining({ code: "malformed_message" })]);
  });
});
