import { completeNow } from "../../shared/completion";
import { type PartsSummary, summarizeParts } from "../../shared/db/parts";
import { fixExpectedParts, getUpload, type UploadRow } from "../../shared/db/uploads";
import { ApiError, errors } from "../../shared/errors";
import type { Bindings } from "./bindings";
import { checkNoneBeyond } from "./ingest-part";

/** R2's smallest part but the last. */
const MIN_R2_PART = 5 * 1024 * 1024;

export type CompleteRequest =
  /** The native API: the part count, needed only when the upload was created without one. */
  | { kind: "count"; parts?: number }
  /** The seed-compatible API: the client names every part with the etag R2 gave it. */
  | { kind: "named"; parts: { partNumber: number; etag: string }[] };

export type CompleteResult = { row: UploadRow; settled: boolean };

/**
 * Completes an upload on the client's word, through the same claim as the consumer: the upload
 * must be open, every expected part recorded, and the newest copy of each part the one D1 holds.
 * Whatever the client asks is checked against what D1 recorded before anything changes, so a
 * refused request leaves the upload exactly as it was. `settled` is false when parts are still
 * missing or another invocation holds the claim: the consumer finishes it.
 */
export async function completeUpload(
  env: Bindings,
  upload: UploadRow,
  request: CompleteRequest,
): Promise<CompleteResult> {
  if (upload.state === "aborted" || upload.state === "failed")
    throw errors.uploadNotOpen(upload.state, "cannot be completed");
  if (upload.mode === "stream") {
    throw new ApiError(409, "not_parts", "a stream completes by itself once its final chunk and all before it are in");
  }
  if (upload.state !== "open") return { row: upload, settled: upload.state === "completed" };

  const count = request.kind === "named" ? request.parts.length : request.parts;
  const recorded = await summarizeParts(env.DB, upload.upload_id);
  if (request.kind === "named") checkNamedParts(upload, recorded, request.parts);
  let row = upload;
  if (row.expected_parts === null) {
    if (count === undefined) {
      throw new ApiError(400, "parts_required", 'this upload was created without a part count: send { "parts": N }');
    }
    checkRecordedParts(row, recorded, count);
    row = (await fixExpectedParts(env.DB, row.upload_id, count, Date.now())) ?? (await reread(env.DB, row.upload_id));
  }
  if (count !== undefined && count !== row.expected_parts) {
    throw new ApiError(409, "parts_mismatch", `the upload expects ${row.expected_parts} parts, not ${count}`);
  }
  const after = await completeNow(env, row.upload_id, Date.now());
  return { row: after, settled: after.state === "completed" || after.state === "failed" };
}

async function reread(db: D1Database, uploadId: string): Promise<UploadRow> {
  const row = await getUpload(db, uploadId);
  if (row === null) throw errors.uploadNotFound(uploadId);
  return row;
}

/**
 * Parts of an upload created without a count could not be checked against it when they
 * arrived; check them now, before the count is fixed, so a misfit is a clear 409 rather than
 * a failed upload.
 */
function checkRecordedParts(row: UploadRow, parts: PartsSummary, count: number): void {
  checkNoneBeyond(parts, count, "parts_beyond_count");
  if (row.part_size === null) return;
  const misfits = parts.sizes
    .filter(({ partNumber, size }) => partNumber < count && size !== row.part_size)
    .map(({ partNumber }) => partNumber);
  if (misfits.length > 0) {
    throw new ApiError(
      409,
      "part_size_mismatch",
      `every part but the last must be exactly ${row.part_size} bytes; parts ${misfits.join(", ")} are not`,
    );
  }
}

const refused = (message: string) => new ApiError(400, "complete_refused", message);

/**
 * The seed API's client names the parts; they must be exactly 1..N, each with the etag of the
 * copy R2 holds (the one D1 recorded), in sizes R2 will accept. Checked here rather than left
 * to R2, so that a refusal changes nothing and the client can fix its list and try again.
 */
function checkNamedParts(
  upload: UploadRow,
  recorded: PartsSummary,
  named: { partNumber: number; etag: string }[],
): void {
  const sorted = [...named].sort((a, b) => a.partNumber - b.partNumber);
  for (const [index, part] of sorted.entries()) {
    if (part.partNumber !== index + 1) {
      throw refused(
        `the parts must be numbered 1 to ${sorted.length}, each once; part ${index + 1} is missing or repeated`,
      );
    }
    const etag = recorded.etags.get(part.partNumber);
    if (etag === undefined) throw refused(`part ${part.partNumber} was never received`);
    if (normaliseEtag(part.etag) !== normaliseEtag(etag)) {
      throw refused(`part ${part.partNumber}'s etag is not the one storage holds; send the etag its upload returned`);
    }
  }
  if (upload.part_size !== null) return;
  // Without a declared part size nothing checked the sizes yet: R2 wants all but the last equal
  // and at least 5 MiB, and the last no larger.
  const sizes = sorted.map(({ partNumber }) => recorded.sizes.find((s) => s.partNumber === partNumber)?.size ?? 0);
  const first = sizes[0] ?? 0;
  const last = sizes[sizes.length - 1] ?? 0;
  const inner = sizes.slice(0, -1);
  if (inner.some((size) => size !== first) || (sizes.length > 1 && last > first)) {
    throw refused("every part but the last must have one size, and the last may not be larger");
  }
  if (inner.some((size) => size < MIN_R2_PART)) throw refused("every part but the last must be at least 5 MiB");
}

function normaliseEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/"/g, "");
}
