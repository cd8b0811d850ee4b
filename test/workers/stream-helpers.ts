/** Helpers of the chunk-stream tests, which are split across files so that they run in parallel. */
import { env } from "cloudflare:workers";
import { stagingPrefix } from "../../shared/db/chunks";
import type { UploadStatus } from "../../shared/schemas";
import { PART, type Pipeline } from "./helpers";

/** Pipeline options for a stream on the D1 chunk path (streams opened before chunk objects). */
export const D1_STORE = { producerVars: { CHUNK_STORE: "d1" } } as const;

export async function createStream(
  pipeline: Pipeline,
  key: string,
  extra: Record<string, unknown> = {},
): Promise<UploadStatus> {
  return pipeline.create({ key, mode: "stream", partSize: PART, ...extra });
}

/** SHA-256 of a sequence of byte arrays, without concatenating them. */
export async function sha256Of(chunks: Iterable<Uint8Array>): Promise<string> {
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  for (const chunk of chunks) await writer.write(chunk);
  await writer.close();
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function objectSha256(key: string): Promise<string | null> {
  const object = await env.BUCKET.get(key);
  if (object === null) return null;
  const digest = new crypto.DigestStream("SHA-256");
  await object.body.pipeTo(digest);
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function partSizes(uploadId: string): Promise<number[]> {
  const { results } = await env.DB.prepare("SELECT size FROM parts WHERE upload_id = ?1 ORDER BY part_number")
    .bind(uploadId)
    .all<{ size: number }>();
  return results.map((row) => row.size);
}

export async function stagedKeys(uploadId: string): Promise<string[]> {
  return (await env.BUCKET.list({ prefix: stagingPrefix(uploadId) })).objects.map((object) => object.key);
}
