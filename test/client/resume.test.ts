import { describe, expect, it } from "vitest";
import { IngestError, parseRanges, type ResumeState } from "../../client/src/index.js";
import { upload } from "../../client/src/node/index.js";
import { fetchObject, fetchStatus, PART, recordingFetch, server, sha256, tempFile, uniqueKey } from "./helpers.js";

const PARTS = [1, 2, 3, 4];

/** Starts an upload of four parts and aborts it once two parts got their 2xx. */
async function interruptedUpload() {
  const file = await tempFile(3 * PART + 4_321);
  const key = uniqueKey("resumable.bin");
  const controller = new AbortController();
  const first = recordingFetch();
  const failure = await upload(file.path, {
    ...server(),
    key,
    partSize: PART,
    concurrency: 2,
    signal: controller.signal,
    fetch: first.fetch,
    onProgress: (progress) => {
      if (progress.partsAcknowledged >= 2) controller.abort();
    },
  }).catch((error: unknown) => error);
  if (!(failure instanceof IngestError)) throw new Error(`expected an IngestError, got ${String(failure)}`);
  return { ...file, key, failure, firstPuts: first.partPuts() };
}

describe("resume", () => {
  it("carries on from the saved state and sends only the parts that never got a 2xx", async () => {
    const { path, bytes, key, failure, firstPuts } = await interruptedUpload();
    expect(failure.code).toBe("aborted");
    const state = failure.resumeState as ResumeState;
    const acknowledged = parseRanges(state.acknowledged);
    expect(acknowledged.length).toBeGreaterThanOrEqual(2);
    expect(acknowledged.length).toBeLessThan(4);
    expect(firstPuts.length).toBeLessThan(4);

    const second = recordingFetch();
    const result = await upload(path, { ...server(), resume: state, wait: true, fetch: second.fetch });
    const sent = second.partPuts();
    // Never an acknowledged part again, always the parts the first attempt never started. A part
    // whose 2xx the abort cut off may already be tallied by the server: then it is skipped too.
    expect(sent.filter((n) => acknowledged.includes(n))).toEqual([]);
    expect(sent).toEqual(expect.arrayContaining(PARTS.filter((n) => !firstPuts.includes(n))));
    expect(sent.length + result.partsSkipped).toBe(PARTS.length);
    expect(result.partsSkipped).toBeGreaterThanOrEqual(acknowledged.length);
    expect(result).toMatchObject({ key, resumed: true, state: "completed" });
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));

    // Resuming a finished upload sends nothing.
    const third = recordingFetch();
    const again = await upload(path, { ...server(), resume: state, fetch: third.fetch });
    expect(again.state).toBe("completed");
    expect(third.partPuts()).toEqual([]);
  });

  it("resumes from the upload id alone once the tally has caught up", async () => {
    const { path, bytes, key, failure } = await interruptedUpload();
    const state = failure.resumeState as ResumeState;
    const acknowledged = parseRanges(state.acknowledged).length;
    // Without saved state only the server's tally says what is in: let it catch up first.
    await expect
      .poll(async () => (await fetchStatus(state.uploadId)).receivedParts, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(acknowledged);
    const missing = parseRanges((await fetchStatus(state.uploadId)).missingParts);

    const second = recordingFetch();
    const result = await upload(path, { ...server(), resume: state.uploadId, wait: true, fetch: second.fetch });
    // The part that was in flight when the first run aborted may still land on the server after
    // `missing` was read: then the resume rightly skips it. So: only parts the server lacked are
    // sent, none that got a 2xx is sent again, and the object comes out whole.
    expect(missing).toEqual(expect.arrayContaining(second.partPuts()));
    for (const n of parseRanges(state.acknowledged)) expect(second.partPuts()).not.toContain(n);
    expect(result.key).toBe(key);
    expect(sha256(await fetchObject(key))).toBe(sha256(bytes));
  });

  it("refuses to resume from a source of another size", async () => {
    const { failure } = await interruptedUpload();
    const other = await tempFile(2 * PART);
    const recorder = recordingFetch();
    const resumed = upload(other.path, {
      ...server(),
      resume: failure.resumeState as ResumeState,
      fetch: recorder.fetch,
    });
    await expect(resumed).rejects.toMatchObject({ code: "source_mismatch" });
    expect(recorder.partPuts()).toEqual([]);
  });
});
