import { stagingPrefix } from "./db/chunks";

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
