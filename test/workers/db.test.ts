import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claimReady } from "../../shared/completion";
import { claimStatements } from "../../shared/db/claims";
import { queryPlan } from "../../shared/db/listing";
import { type IngestedPartRecord, recordIngestedPart } from "../../shared/db/parts";
import { COMMIT_GUARD_SQL } from "../../shared/db/streams";
import {
  getUpload,
  insertUpload,
  listStalledCompletions,
  markAborted,
  nextPartSequence,
} from "../../shared/db/uploads";
import { newUploadId } from "../../shared/ids";
import type { PartEvent } from "../../shared/messages";
import { PART, Pipeline } from "./helpers";

const T0 = Date.UTC(2026, 10, 26, 3, 0, 0);
const STALE_SECONDS = 600;

/** An open upload registered straight in D1 (no R2 behind it: these tests never complete). */
async function openUpload(expectedParts: number | null = 2): Promise<{ uploadId: string; key: string }> {
  const uploadId = newUploadId();
  const key = `db/${uploadId}.bin`;
  await insertUpload(env.DB, {
    uploadId,
    r2UploadId: `r2-${uploadId}`,
    key,
    api: "native",
    partSize: PART,
    expectedParts,
    contentType: null,
    metadata: null,
    staleAfterSeconds: STALE_SECONDS,
    mode: "parts",
    sha256: null,
    now: T0,
  });
  return { uploadId, key };
}

function part(
  upload: { uploadId: string; key: string },
  partNumber: number,
  etag: string,
  uploadedAt = T0,
): IngestedPartRecord {
  return { ...upload, partNumber, r2Part: 2 * partNumber - 1, etag, size: PART, uploadedAt, sha256: null };
}

function eventOf(record: IngestedPartRecord, sequence: number): PartEvent {
  return { type: "part.uploaded", ...record, sequence };
}

async function partRows(uploadId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM parts WHERE upload_id = ?1 ORDER BY part_number")
    .bind(uploadId)
    .all();
  return results;
}

const isStalled = async (uploadId: string, now = T0) =>
  (await listStalledCompletions(env.DB, now - 120_000, 1000)).includes(uploadId);

describe("uploads", () => {
  it("refuses an upload row without R2's multipart id", async () => {
    const upload = {
      uploadId: newUploadId(),
      key: "db/no-r2-id.bin",
      api: "native" as const,
      partSize: PART,
      expectedParts: 1,
      contentType: null,
      metadata: null,
      staleAfterSeconds: STALE_SECONDS,
      mode: "parts" as const,
      sha256: null,
      now: T0,
    };
    await expect(insertUpload(env.DB, { ...upload, r2UploadId: "" })).rejects.toThrow(/r2_upload_id is required/);
    expect(await getUpload(env.DB, upload.uploadId)).toBeNull();
  });
});

describe("recording a part at ingest", () => {
  it("gives each part the upload's next sequence and counts it as activity", async () => {
    const upload = await openUpload();
    expect(await recordIngestedPart(env.DB, part(upload, 2, "b", T0 + 1000))).toBe(1);
    expect(await recordIngestedPart(env.DB, part(upload, 1, "a", T0 + 5000))).toBe(2);

    const row = await getUpload(env.DB, upload.uploadId);
    expect(row?.part_seq).toBe(2);
    expect(row?.last_activity_at).toBe(T0 + 5000);
    expect(row?.expires_at).toBe(T0 + 5000 + STALE_SECONDS * 1000);
    expect(await partRows(upload.uploadId)).toMatchObject([
      { part_number: 1, etag: "a", seq: 2 },
      { part_number: 2, etag: "b", seq: 1 },
    ]);
  });

  it("changes nothing when the consumer tallies the event of a part already recorded", async () => {
    const upload = await openUpload(3);
    const record = part(upload, 1, "a");
    const sequence = await recordIngestedPart(env.DB, record);
    const before = await partRows(upload.uploadId);

    const result = await new Pipeline().deliver([eventOf(record, sequence!), eventOf(record, sequence!)]);

    expect(result.retryMessages).toEqual([]);
    expect(await partRows(upload.uploadId)).toEqual(before);
  });

  it("never lets an older copy's event overwrite the newer copy recorded since", async () => {
    const upload = await openUpload(3);
    const older = part(upload, 1, "older");
    const olderSeq = await recordIngestedPart(env.DB, older);
    const newer = part(upload, 1, "newer", T0 + 1);
    const newerSeq = await recordIngestedPart(env.DB, newer);
    expect(newerSeq).toBeGreaterThan(olderSeq!);

    await new Pipeline().deliver([eventOf(older, olderSeq!)]);
    await new Pipeline().deliver([eventOf(newer, newerSeq!), eventOf(older, olderSeq!)]);

    expect(await partRows(upload.uploadId)).toMatchObject([{ part_number: 1, etag: "newer", seq: newerSeq }]);
  });

  it("records nothing and answers null once the upload is no longer open", async () => {
    const upload = await openUpload();
    await markAborted(env.DB, upload.uploadId, "client", T0);

    expect(await recordIngestedPart(env.DB, part(upload, 1, "late"))).toBeNull();
    expect(await partRows(upload.uploadId)).toEqual([]);
    expect((await getUpload(env.DB, upload.uploadId))?.part_seq).toBe(0);
  });

  it("records nothing for a key that is not the upload's", async () => {
    const upload = await openUpload();
    expect(await recordIngestedPart(env.DB, part({ ...upload, key: "db/other.bin" }, 1, "a"))).toBeNull();
    expect(await partRows(upload.uploadId)).toEqual([]);
  });

  it("still records a part that lands while a completion is under way, so that completion cannot win", async () => {
    const upload = await openUpload(1);
    await recordIngestedPart(env.DB, part(upload, 1, "first"));
    const [claim] = await claimReady(env.DB, [upload.uploadId], T0);
    expect(claim?.upload.state).toBe("completing");

    expect(await recordIngestedPart(env.DB, part(upload, 1, "second", T0 + 1))).toBe(2);
    expect(await partRows(upload.uploadId)).toMatchObject([{ etag: "second", seq: 2 }]);
  });
});

describe("readiness to complete", () => {
  it("holds once every expected part is recorded, and the claim takes the upload exactly once", async () => {
    const upload = await openUpload(2);
    await recordIngestedPart(env.DB, part(upload, 1, "a"));
    expect(await isStalled(upload.uploadId)).toBe(false);
    expect(await claimReady(env.DB, [upload.uploadId], T0)).toEqual([]);

    await recordIngestedPart(env.DB, part(upload, 2, "b"));
    expect(await isStalled(upload.uploadId)).toBe(true);
    const [claim] = await claimReady(env.DB, [upload.uploadId], T0);
    expect(claim?.parts.map((p) => [p.part_number, p.etag])).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    expect(await claimReady(env.DB, [upload.uploadId], T0)).toEqual([]);
    expect(await isStalled(upload.uploadId)).toBe(false);
  });

  it("does not hold while R2 has accepted a copy of a part that D1 has not recorded", async () => {
    const upload = await openUpload(1);
    await recordIngestedPart(env.DB, part(upload, 1, "a"));
    // R2 took a new copy of part 1 whose digest did not match: the recorded etag is stale now.
    await nextPartSequence(env.DB, upload.uploadId, T0 + 1);
    expect(await isStalled(upload.uploadId)).toBe(false);
    expect(await claimReady(env.DB, [upload.uploadId], T0 + 1)).toEqual([]);

    await recordIngestedPart(env.DB, part(upload, 1, "a-again", T0 + 2));
    expect(await isStalled(upload.uploadId, T0 + 2)).toBe(true);
  });

  it("does not hold without a part count, nor count parts beyond it", async () => {
    const unknown = await openUpload(null);
    await recordIngestedPart(env.DB, part(unknown, 1, "a"));
    expect(await isStalled(unknown.uploadId)).toBe(false);

    const short = await openUpload(2);
    await recordIngestedPart(env.DB, part(short, 1, "a"));
    await recordIngestedPart(env.DB, part(short, 3, "c"));
    expect(await isStalled(short.uploadId)).toBe(false);
  });

  it("reads rows in proportion to the uploads it claims, not to the uploads open", async () => {
    const claimOneReady = async (claimId: string) => {
      const ready = await openUpload(1);
      await recordIngestedPart(env.DB, part(ready, 1, "a"));
      const [claim] = await env.DB.batch(claimStatements(env.DB, [ready.uploadId], claimId, T0, T0 - 120_000));
      expect(claim?.meta.changes).toBe(1);
      return claim?.meta.rows_read;
    };
    await Promise.all(Array.from({ length: 10 }, () => openUpload(2)));
    const amongFew = await claimOneReady("claim-among-few");
    const moreOpen = 40;
    await Promise.all(Array.from({ length: moreOpen }, () => openUpload(2)));
    const amongMany = await claimOneReady("claim-among-many");
    // A claim reads about ten rows (its upload, the upload's parts, index entries); one that
    // scanned the open uploads would read every one of the 40 more.
    expect((amongMany ?? Number.NaN) - (amongFew ?? Number.NaN)).toBeLessThan(moreOpen / 4);
  });

  it("lets a claim whose lease ran out be taken over, and not before", async () => {
    const upload = await openUpload(1);
    await recordIngestedPart(env.DB, part(upload, 1, "a"));
    expect(await claimReady(env.DB, [upload.uploadId], T0)).toHaveLength(1);

    expect(await isStalled(upload.uploadId, T0 + 60_000)).toBe(false);
    expect(await claimReady(env.DB, [upload.uploadId], T0 + 60_000)).toEqual([]);
    expect(await isStalled(upload.uploadId, T0 + 10 * 60_000)).toBe(true);
    expect(await claimReady(env.DB, [upload.uploadId], T0 + 10 * 60_000)).toHaveLength(1);
  });
});

describe("coalescing a stream", () => {
  it("checks the chunks a commit read with one primary-key lookup each, never a scan of the stream", async () => {
    const guard = JSON.stringify([
      [1, "k1"],
      [2, "k2"],
    ]);
    const plan = await queryPlan(env.DB, { sql: COMMIT_GUARD_SQL, values: ["u", "lease", "commit", guard] });
    expect(plan.join("\n")).toMatch(/SEARCH c USING (INDEX \w+|PRIMARY KEY) \(upload_id=\? AND seq=\?\)/);
    expect(plan.join("\n")).not.toMatch(/SCAN c\b|SEARCH c USING \S+ (INDEX \w+ |KEY )?\(upload_id=\?\)$/m);
  });
});
