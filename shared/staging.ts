import { stagingPrefix } from "./db/chunks";
import type { UploadRow } from "./db/uploads";
import { errorMessage } from "./r2-errors";

/**
 * Logs a staged object (or staging area) that could not be deleted now: not an error for the
 * upload, since whatever is left goes with the staging area when the upload ends.
 */
export function warnStagingLeft(
  upload: { upload_id: string; object_key: string },
  error: unknown,
  stagedKey?: string,
): void {
  console.warn(
    JSON.stringify({
      event: "staging_delete_failed",
      uploadId: upload.upload_id,
      key: upload.object_key,
      stagedKey,
      code: "r2_unavailable",
      error: errorMessage(error),
    }),
  );
}

/** Deletes every staged chunk of an upload; true once none is left. */
export async function deleteStaging(bucket: R2Bucket, uploadId: string): Promise<boolean> {
  const prefix = stagingPrefix(uploadId);
  for (let page = 0; page < 100; page++) {
    const listing = await bucket.list({ prefix, limit: 1000 });
    if (listing.objects.length === 0) return true;
    await bucket.delete(listing.objects.map((object) => object.key));
    if (!listing.truncated) return true;
  }
  return false;
}

/** Staged objects read ahead while one is being copied. */
const READ_AHEAD = 4;

/** Deletes a stream's staging area; false (and a warning) when R2 could not do it now. */
export async function deleteStagingQuietly(
  bucket: R2Bucket,
  upload: Pick<UploadRow, "upload_id" | "object_key">,
): Promise<boolean> {
  try {
    return await deleteStaging(bucket, upload.upload_id);
  } catch (error) {
    warnStagingLeft(upload, error);
    return false;
  }
}

/** A byte range of a staged object; `whole`: the entire object (read without a range). */
export type Slice = { key: string; md5: string; offset: number; length: number; whole: boolean };

class StagedObjectChanged extends Error {}

/**
 * Streams the slices, in order, into `writable` (of exactly their total length), reading a few
 * objects ahead: with many small chunks, the round trips to R2 and not the bytes take the time.
 */
export async function copySlices(
  bucket: R2Bucket,
  slices: Slice[],
  writable: WritableStream<Uint8Array>,
): Promise<void> {
  const wanted = slices.filter((slice) => slice.length > 0);
  const reads: (Promise<R2ObjectBody> | undefined)[] = [];
  const open = (index: number) => {
    const slice = wanted[index];
    if (slice === undefined || reads[index] !== undefined) return;
    const whole = slice.whole;
    const read = bucket
      .get(slice.key, {
        ...(whole ? {} : { range: { offset: slice.offset, length: slice.length } }),
        // Keys are written once, but rows from before migration 0006 share one key per chunk.
        onlyIf: { etagMatches: slice.md5 },
      })
      .then((object) => {
        if (object === null || !("body" in object))
          throw new StagedObjectChanged(`staged object ${slice.key} changed or vanished`);
        return object;
      });
    // Read ahead, so possibly never awaited if an earlier copy fails.
    read.catch(() => undefined);
    reads[index] = read;
  };
  try {
    for (let index = 0; index < wanted.length; index++) {
      for (let ahead = index; ahead < Math.min(wanted.length, index + READ_AHEAD); ahead++) open(ahead);
      const object = await (reads[index] as Promise<R2ObjectBody>);
      reads[index] = undefined;
      await object.body.pipeTo(writable, { preventClose: true });
    }
    await writable.close();
  } catch (error) {
    for (const read of reads) void read?.then((object) => object.body.cancel()).catch(() => undefined);
    await writable.abort(error).catch(() => undefined);
    throw error;
  }
}
