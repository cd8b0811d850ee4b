import { getStatus } from "./api.js";
import type { UploadStatus } from "./contract.js";
import { IngestError } from "./errors.js";
import type { Transport } from "./http.js";
import { sleep } from "./retry.js";

/**
 * Polls the status until the consumer has completed the upload. With the default batch window
 * (0 s) the tally trails the last part by tens of milliseconds; a deployment may set a longer
 * one, so polling starts fast and slows down for long completions.
 */
export async function waitForCompletion(
  transport: Transport,
  uploadId: string,
  timeoutMs: number,
): Promise<UploadStatus> {
  const deadline = Date.now() + timeoutMs;
  for (let interval = 200; ; interval = Math.min(2_000, interval * 1.5)) {
    const status = await getStatus(transport, uploadId);
    if (status.state === "completed") return status;
    if (status.state === "failed") {
      throw new IngestError("upload_failed", `upload ${uploadId} failed: ${status.failureReason ?? "no reason given"}`);
    }
    if (status.state === "aborted") {
      throw new IngestError(
        "upload_aborted",
        `upload ${uploadId} was aborted (${status.abortReason ?? "no reason given"})`,
      );
    }
    if (Date.now() + interval > deadline) {
      throw new IngestError(
        "wait_timeout",
        `upload ${uploadId} is still ${status.state} after ${Math.round(timeoutMs / 1000)} s; the server may still complete it`,
      );
    }
    await sleep(interval, transport.signal);
  }
}
