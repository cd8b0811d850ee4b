import { getStatus, putPart } from "./api.js";
import type { UploadStatus } from "./contract.js";
import { abortError, IngestError } from "./errors.js";
import { DEFAULT_FINISH, FINISH_STRATEGIES, type FinishStrategy } from "./finish.js";
import { createTransport, type Transport } from "./http.js";
import { blobJobs, type FeedHooks, type Job, type JobFeed, streamJobs } from "./jobs.js";
import type { UploadOptions, UploadResult } from "./options.js";
import { choosePartSize, partCount } from "./parts.js";
import { runPool } from "./pool.js";
import { ProgressMeter } from "./progress.js";
import { DEFAULT_RETRY } from "./retry.js";
import { checkKnownSize, createSession, resumeSession, resumeState, type Session } from "./session.js";
import {
  countingBody,
  describeSource,
  type Source,
  type StreamPart,
  splitParts,
  type UploadSource,
} from "./sources.js";
import type { ResumeState } from "./types.js";
import { waitForCompletion } from "./wait.js";

export type { UploadOptions, UploadResult } from "./options.js";

const DEFAULT_WAIT_MS = 10 * 60_000;

/**
 * Uploads a Blob/File (known size: parts announced up front, the server completes by itself)
 * or a stream of unknown length (parts sent as they fill, then one complete call), `concurrency`
 * parts at a time, retrying what may succeed later. On failure after the upload exists, the
 * thrown IngestError carries `resumeState`.
 */
export async function upload(source: UploadSource, options: UploadOptions): Promise<UploadResult> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new IngestError("invalid_options", `concurrency must be a whole number >= 1, not ${concurrency}`);
  }
  if (options.finish !== undefined && !(options.finish in FINISH_STRATEGIES)) {
    throw new IngestError(
      "invalid_options",
      `finish must be "complete" or "final-marker", not ${String(options.finish)}`,
    );
  }
  if (options.resume === undefined && (options.key === undefined || options.key === "")) {
    throw new IngestError("invalid_options", "a key is required for a new upload");
  }
  const userSignal = options.signal;
  if (userSignal?.aborted) throw abortError(userSignal.reason);
  // One controller for the whole run: the caller's abort and our own first failure both stop it.
  const controller = new AbortController();
  const forward = () => controller.abort(userSignal?.reason);
  userSignal?.addEventListener("abort", forward, { once: true });
  const transport = createTransport({ ...options, signal: controller.signal }, DEFAULT_RETRY);
  const run = new UploadRun(options, transport, controller, concurrency);
  try {
    return await run.execute(describeSource(source));
  } catch (error) {
    const failure = userSignal?.aborted ? abortError(userSignal.reason) : toIngestError(error);
    failure.resumeState = run.checkpoint();
    throw failure;
  } finally {
    userSignal?.removeEventListener("abort", forward);
  }
}

function toIngestError(error: unknown): IngestError {
  if (error instanceof IngestError) return error;
  return new IngestError("upload_failed", error instanceof Error ? error.message : String(error), { cause: error });
}

class UploadRun {
  private session: Session | undefined;
  private feed: JobFeed | undefined;
  private partsSent = 0;
  private bytesSent = 0;
  private partsSkipped = 0;
  private finishedByServer: UploadStatus | undefined;
  private readonly meter: ProgressMeter;
  private readonly started = Date.now();
  private readonly options: UploadOptions;
  private readonly transport: Transport;
  private readonly controller: AbortController;
  private readonly concurrency: number;
  private readonly finisher: FinishStrategy;
  private readonly hooks: FeedHooks = {
    skip: (partNumber, size) => {
      this.partsSkipped++;
      this.meter.acknowledged(partNumber, size);
    },
    stopped: () => this.finishedByServer !== undefined,
  };

  constructor(options: UploadOptions, transport: Transport, controller: AbortController, concurrency: number) {
    this.options = options;
    this.transport = transport;
    this.controller = controller;
    this.concurrency = concurrency;
    this.finisher = FINISH_STRATEGIES[options.finish ?? DEFAULT_FINISH];
    this.meter = new ProgressMeter(options.onProgress, Date.now, options.progressIntervalMs);
  }

  checkpoint(): ResumeState | undefined {
    return this.session === undefined ? undefined : resumeState(this.session, this.feed?.size() ?? null);
  }

  async execute(source: Source): Promise<UploadResult> {
    const feed = source.kind === "blob" ? await this.startBlob(source.blob) : await this.startStream(source.chunks);
    this.feed = feed;
    const session = this.session as Session;
    this.options.onCheckpoint?.(resumeState(session, feed.size()));
    if (session.status.state !== "open") return this.serverHasEverything(session, session.status);
    await runPool(
      () => feed.next(),
      this.concurrency,
      (job) => this.sendPart(session, job),
      this.controller,
    );
    if (this.controller.signal.aborted) throw abortError(this.controller.signal.reason);
    if (this.finishedByServer !== undefined) return this.serverHasEverything(session, this.finishedByServer);

    const parts = feed.parts();
    const size = feed.size() ?? 0;
    this.meter.learnTotals(size, parts);
    let status: UploadStatus | null = null;
    if (session.expectedParts === null) {
      this.meter.setPhase("completing");
      status = await this.finisher.finish(this.transport, session.uploadId, parts);
    }
    return this.end(session, status, size, parts);
  }

  /** Resumed an upload that is already completing, or the server completed it while we sent. */
  private serverHasEverything(session: Session, status: UploadStatus): Promise<UploadResult> {
    const size = status.object?.size ?? this.feed?.size() ?? status.bytesReceived;
    const parts = status.expectedParts ?? status.receivedParts;
    this.meter.learnTotals(size, parts);
    this.meter.catchUp();
    return this.end(session, status, size, parts);
  }

  private async end(session: Session, last: UploadStatus | null, size: number, parts: number): Promise<UploadResult> {
    const transferMs = Date.now() - this.started;
    let status = last;
    if (this.options.wait && status?.state !== "completed") {
      this.meter.setPhase("waiting");
      const timeoutMs =
        (typeof this.options.wait === "object" ? this.options.wait.timeoutMs : undefined) ?? DEFAULT_WAIT_MS;
      status = await waitForCompletion(this.transport, session.uploadId, timeoutMs);
    }
    this.meter.setPhase("done");
    return {
      uploadId: session.uploadId,
      key: session.key,
      size,
      parts,
      partSize: session.partSize,
      state: status?.state === "completed" ? "completed" : "completing",
      status,
      partsSent: this.partsSent,
      bytesSent: this.bytesSent,
      partsSkipped: this.partsSkipped,
      resumed: session.resumed,
      transferMs,
      durationMs: Date.now() - this.started,
    };
  }

  private async open(size: number | null, parts: number | null): Promise<Session> {
    const { resume, key, contentType, metadata, sha256, staleAfterSeconds } = this.options;
    const partSize = choosePartSize(size, this.options.partSize);
    this.session =
      resume === undefined
        ? await createSession(this.transport, {
            key: key as string,
            partSize,
            parts,
            contentType,
            metadata,
            sha256,
            staleAfterSeconds,
          })
        : await resumeSession(this.transport, resume, { key, partSize: this.options.partSize });
    return this.session;
  }

  private async startBlob(blob: Blob): Promise<JobFeed> {
    const session = await this.open(blob.size, partCount(blob.size, choosePartSize(blob.size, this.options.partSize)));
    checkKnownSize(session, typeof this.options.resume === "object" ? this.options.resume : undefined, blob.size);
    const count = partCount(blob.size, session.partSize);
    this.meter.begin(session.uploadId, blob.size, count);
    return blobJobs(blob, count, session, this.hooks);
  }

  private async startStream(chunks: AsyncIterable<Uint8Array>): Promise<JobFeed> {
    let session: Session;
    let parts: AsyncGenerator<StreamPart>;
    let first: StreamPart;
    let whole = false;
    if (this.options.resume !== undefined) {
      // The upload's part size decides where the stream is cut: learn it before reading.
      session = await this.open(null, null);
      parts = splitParts(chunks, session.partSize);
      first = (await parts.next()).value as StreamPart;
    } else {
      parts = splitParts(chunks, choosePartSize(null, this.options.partSize));
      // Read the first part before creating the upload: a stream that ends inside it has a
      // known size after all, and gets a counted upload the server completes by itself.
      first = (await parts.next()).value as StreamPart;
      whole = first.final;
      session = await this.open(whole ? first.bytes.byteLength : null, whole ? 1 : null);
    }
    this.meter.begin(session.uploadId, whole ? first.bytes.byteLength : null, session.expectedParts);
    return streamJobs(first, parts, session, this.hooks);
  }

  private async sendPart(session: Session, job: Job): Promise<void> {
    if (this.finishedByServer !== undefined) return;
    // Counting bytes as they go out costs a JS hop per 64 KiB; without a progress listener
    // there is nobody to tell, so the part goes out as it is (a file slice, a buffer).
    const streamed = (this.options.streamBodies ?? true) && this.options.onProgress !== undefined;
    try {
      await putPart(this.transport, session.uploadId, {
        partNumber: job.partNumber,
        size: job.size,
        // Only an upload without a count is closed by its parts; a counted one needs no marker.
        query: session.expectedParts === null ? this.finisher.partQuery(job) : {},
        body: () => {
          this.meter.startAttempt(job.partNumber);
          return streamed ? countingBody(job.body, (bytes) => this.meter.sent(job.partNumber, bytes)) : job.body;
        },
      });
    } catch (error) {
      if (!(error instanceof IngestError && error.code === "upload_not_open")) throw error;
      // A part whose 2xx got lost may have been the last one: then the server completed the
      // upload while we retried, and there is nothing left to send.
      const status = await getStatus(this.transport, session.uploadId);
      if (status.state !== "completing" && status.state !== "completed") {
        throw new IngestError(
          status.state === "aborted" ? "upload_aborted" : "upload_failed",
          `${error.message}; the upload is ${status.state}`,
        );
      }
      this.finishedByServer = status;
      return;
    }
    session.acknowledged.add(job.partNumber);
    this.partsSent++;
    this.bytesSent += job.size;
    this.meter.acknowledged(job.partNumber, job.size);
    this.options.onCheckpoint?.(resumeState(session, this.feed?.size() ?? null));
  }
}
