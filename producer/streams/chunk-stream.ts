import { DurableObject } from "cloudflare:workers";
import { getUpload } from "../../shared/db/uploads";
import { ApiError } from "../../shared/errors";
import { authorizeUpload } from "../auth/authorize";
import type { Env } from "../env";
import { flushParts } from "./flush";
import { advanceCursor, expiryToRecord, lastChunkOf, nextPart } from "./plan";
import { readChunk } from "./read-chunk";
import { StreamRows } from "./stream-rows";
import {
  type AcceptRequest,
  type AcceptResult,
  type PartPlan,
  type ReadChunk,
  type Refusal,
  refusal,
  type StreamMeta,
  type StreamSummary,
} from "./types";

/** A part being written holds the stream for this long after its last call. */
const LEASE_MS = 120_000;
/** After a part could not be written, the object's alarm tries again this soon, then less often. */
const RETRY_MS = 2_000;
const RETRY_MAX_MS = 60_000;
/** An ended stream keeps its summary this long, for status reads, then forgets everything. */
const ENDED_KEEP_MS = 10 * 60_000;

/** `lastChunk`: the part's last chunk, found once when the plan is made (its chunks cannot change). */
type Lease = { id: string; until: number; plan: PartPlan; lastChunk: number };

/**
 * One per chunk stream (`chunk_store = 'object'`). It owns the stream's chunks until they are in
 * a part: it orders them, refuses what the chunk API refuses, de-duplicates and replaces staged
 * chunks, and keeps their bytes in its SQLite storage (one row per chunk up to 1 MiB). When a
 * part's worth is contiguous it hands out a lease and a part plan; the Worker that holds the
 * lease writes that part into the R2 multipart upload and records it in D1 like any other part
 * (the consumer tallies it and completes the upload), then commits it here, which drops the
 * part's bytes. D1 and the queue therefore see parts, never chunks.
 *
 * Guarantees: a chunk is accepted only once its bytes are stored here; a chunk inside a written
 * (or leased) part never changes; one part is written at a time. When no request finishes the
 * work (the budget ran out, R2 failed), the alarm writes the ready parts with its own bindings.
 */
export class ChunkStream extends DurableObject<Env> {
  private lease: Lease | null = null;
  private readonly rows: StreamRows;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.rows = new StreamRows(ctx.storage);
  }

  /** Registers the stream from its D1 row (idempotent). */
  async init(meta: StreamMeta): Promise<void> {
    this.rows.register(meta);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(this.expiryCheckAt(meta));
  }

  /** Whether the stream is registered here; null: never was, or it ended and was forgotten. */
  describe(): { state: StreamMeta["state"] } | null {
    const meta = this.rows.meta();
    return meta === null ? null : { state: meta.state };
  }

  /**
   * Takes one chunk. Refusals are returned (an error crossing RPC loses its class). A small chunk
   * arrives read and hashed; a streamed one is read in full here before anything is decided.
   * The decision and the write are then one synchronous transaction, so concurrent sends of the
   * same chunk settle in arrival order.
   */
  async accept(request: AcceptRequest): Promise<AcceptResult> {
    if (!(request.body instanceof ReadableStream)) return this.watched(this.store(request, request.body));
    const early = this.check(request);
    if (early !== null) {
      await request.body.cancel().catch(() => undefined);
      return early;
    }
    const read = await readChunk(request.body, request.sha256 !== null);
    if ("failed" in read) return { kind: "body_failed", message: read.failed, received: read.received };
    if (request.sha256 !== null && read.sha256 !== request.sha256) {
      return refusal(400, "digest_mismatch", "the chunk's SHA-256 does not match its Content-Digest; send it again");
    }
    return this.watched(this.store(request, read));
  }

  /** An answer that hands out a part to write: the alarm watches over the lease. */
  private async watched(result: AcceptResult): Promise<AcceptResult> {
    if (result.kind === "accepted" && result.part !== null) await this.watchLease();
    return result;
  }

  /**
   * Whoever holds the lease writes its part after answering its client; if that work stops
   * (its time ran out, its isolate went), the lease runs out and the alarm writes the part.
   */
  private async watchLease(): Promise<void> {
    if (this.lease === null) return;
    const due = this.lease.until + 1_000;
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
  }

  private store(request: AcceptRequest, read: ReadChunk): AcceptResult {
    return this.rows.transact((): AcceptResult => {
      const refused = this.check(request);
      if (refused !== null) return refused;
      const meta = this.rows.meta() as StreamMeta;
      const { seq, final } = request;
      const earlier = this.rows.row(seq);
      if (meta.state !== "open" && (earlier?.md5 !== read.md5 || earlier?.size !== read.size)) return notOpen();
      const response = { sequence: seq, size: read.size, md5: read.md5, final: final || meta.finalChunk === seq };
      // Written into a part (wholly, partly, or being written now): only the same bytes are fine.
      const inPart = seq < meta.nextChunk || (seq === meta.nextChunk && meta.nextOffset > 0) || this.leased(seq);
      if (earlier !== null && (earlier.committed === 1 || inPart)) {
        if (earlier.md5 !== read.md5 || earlier.size !== read.size) {
          return refusal(409, "chunk_committed", `chunk ${seq} is already written into the object and cannot change`);
        }
        return { kind: "accepted", response: { ...response, duplicate: true }, ...this.afterAccept(meta, request.now) };
      }
      const duplicate = earlier !== null && earlier.md5 === read.md5 && earlier.size === read.size;
      if (!duplicate) {
        this.rows.storeChunk(seq, read, earlier);
        this.rows.extendRun(meta, seq, read.size, read.size - (earlier?.size ?? 0), earlier !== null);
      }
      if (final && meta.finalChunk !== seq) {
        meta.finalChunk = seq;
        this.rows.save(meta);
      }
      return { kind: "accepted", response: { ...response, duplicate }, ...this.afterAccept(meta, request.now) };
    });
  }

  /** D1 was told of the stream's activity up to `expiresAt`. */
  touched(expiresAt: number): void {
    const meta = this.rows.meta();
    if (meta === null) return;
    meta.d1ExpiresAt = Math.max(meta.d1ExpiresAt, expiresAt);
    this.rows.save(meta);
  }

  /** The bytes of the leased part, in order: whole, or for a large part read as they are pulled. */
  partBytes(leaseId: string): Uint8Array | ReadableStream<Uint8Array> {
    return this.rows.partBytes(this.hold(leaseId).plan);
  }

  /**
   * The leased part is written and recorded: its chunks' bytes go, the cursor moves past it.
   * Returns the next part's plan under the same lease when another is ready, else frees the lease.
   */
  async commitPart(leaseId: string): Promise<PartPlan | null> {
    const { plan } = this.hold(leaseId);
    const next = this.rows.transact(() => {
      const meta = this.rows.meta() as StreamMeta;
      const firstWhole = meta.nextChunk;
      Object.assign(meta, advanceCursor(meta, plan, meta.finalChunk, this.rows.sizeOf));
      this.rows.commitChunks(firstWhole, meta.nextChunk);
      meta.nextPart = plan.partNumber + 1;
      meta.retries = 0;
      meta.committedBytes += plan.size;
      this.rows.run(meta).bytes -= plan.size;
      if (plan.last) meta.state = "ended";
      this.rows.save(meta);
      this.lease = null;
      return this.takePlan(meta, Date.now());
    });
    if (next !== null) await this.watchLease();
    return next;
  }

  /**
   * The lease holder stops: its budget ran out (the alarm carries on at once) or it could not
   * write its part (the alarm tries again soon, then less and less often).
   */
  async abandon(leaseId: string, why: "budget" | "failed"): Promise<void> {
    if (this.lease?.id !== leaseId) return;
    this.lease = null;
    const meta = this.rows.meta();
    if (meta === null) return;
    const retries = why === "failed" ? (meta.retries ?? 0) + 1 : 0;
    this.rows.save({ ...meta, retries });
    const delay = retries === 0 ? 0 : Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (retries - 1));
    await this.ctx.storage.setAlarm(Date.now() + delay);
  }

  /** The stream ended with its last part recorded: keep the summary a while for status reads. */
  async ended(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + ENDED_KEEP_MS);
  }

  /** What the status reports of the chunks. */
  summary(): StreamSummary | null {
    const meta = this.rows.meta();
    return meta === null ? null : this.rows.summary(meta);
  }

  /** The upload was aborted (by its client or the sweep) or is gone: drop every byte. */
  async close(): Promise<void> {
    this.lease = null;
    await this.rows.clear();
  }

  /** Writes parts nobody wrote; forgets the stream once it ended; expires it with D1. */
  override async alarm(): Promise<void> {
    const meta = this.rows.meta();
    if (meta === null) return;
    const now = Date.now();
    if (meta.state === "ended") {
      await this.close();
      return;
    }
    const plan = this.takePlan(meta, now);
    // A part that fails frees the lease and sets the next alarm (abandon): nothing to rethrow.
    if (plan !== null) await flushParts(this.env, this, meta, plan, true);
    const after = this.rows.meta();
    if (after === null || after.state === "ended") return;
    // The sweep or a client may have ended the upload in D1 (alarms are rare: one D1 read).
    const row = await getUpload(this.env.DB, after.uploadId);
    if (row === null || row.state !== "open") {
      await this.close();
      return;
    }
    // Unless flushing asked for a sooner alarm (more parts, or a retry), wake at the expiry, and
    // past it once a minute (the consumer's sweep runs every minute); sooner if somebody else
    // holds a lease, in case its writer stops.
    if ((await this.ctx.storage.getAlarm()) === null) {
      const expiry = Math.max(this.expiryCheckAt(after), now + 60_000);
      await this.ctx.storage.setAlarm(this.lease === null ? expiry : Math.min(expiry, this.lease.until + 1_000));
    }
  }

  private check(request: AcceptRequest): Refusal | { kind: "unknown" } | null {
    const meta = this.rows.meta();
    if (meta === null) return { kind: "unknown" };
    try {
      authorizeUpload(request.caller, { upload_id: meta.uploadId, object_key: meta.key });
    } catch (error) {
      if (error instanceof ApiError) return refusal(error.status, error.code, error.message);
      throw error;
    }
    const { seq, final } = request;
    // An ended stream still answers a re-sent chunk it holds (its device may have lost the
    // answer): the same bytes are a duplicate, anything else is refused after the read.
    if (meta.state !== "open" && this.rows.row(seq)?.committed !== 1) return notOpen();
    if (meta.finalChunk !== null && seq > meta.finalChunk) {
      return refusal(409, "beyond_final_chunk", `chunk ${meta.finalChunk} was marked final; ${seq} is beyond it`);
    }
    if (final && meta.finalChunk !== null && meta.finalChunk !== seq) {
      return refusal(409, "final_conflict", `chunk ${meta.finalChunk} is already marked final`);
    }
    if (final) {
      const highest = this.rows.highestSeq();
      if (highest > seq)
        return refusal(409, "final_conflict", `chunk ${highest} was received, so ${seq} cannot be final`);
    }
    return null;
  }

  /** After an accepted chunk: whether D1 should hear of the activity, and the part to write now. */
  private afterAccept(meta: StreamMeta, now: number): { key: string; touchD1: number | null; part: PartPlan | null } {
    return { key: meta.key, touchD1: expiryToRecord(meta, now), part: this.takePlan(meta, now) };
  }

  /** The next part to write, under a new lease, if one is ready and nobody holds the stream. */
  private takePlan(meta: StreamMeta, now: number): PartPlan | null {
    if (meta.state !== "open") return null;
    if (this.lease !== null && this.lease.until > now) return null;
    const next = nextPart(meta, this.rows.run(meta));
    if (next === null) return null;
    const plan: PartPlan = {
      lease: crypto.randomUUID(),
      partNumber: meta.nextPart,
      firstChunk: meta.nextChunk,
      firstOffset: meta.nextOffset,
      size: next.size,
      last: next.last,
      finalChunk: meta.finalChunk,
      committedBytes: meta.committedBytes + next.size,
    };
    this.lease = { id: plan.lease, until: now + LEASE_MS, plan, lastChunk: lastChunkOf(plan, this.rows.sizeOf) };
    return plan;
  }

  /** A chunk in the leased part: it is being written, so it can no longer change. */
  private leased(seq: number): boolean {
    const lease = this.lease;
    if (lease === null || lease.until <= Date.now()) return false;
    return seq >= lease.plan.firstChunk && seq <= lease.lastChunk;
  }

  private hold(leaseId: string): Lease {
    if (this.lease === null || this.lease.id !== leaseId) throw new Error("chunk stream lease lost");
    this.lease.until = Date.now() + LEASE_MS;
    return this.lease;
  }

  private expiryCheckAt(meta: StreamMeta): number {
    return meta.d1ExpiresAt + 1_000;
  }
}

const notOpen = () =>
  refusal(409, "upload_not_open", "the upload is completing and takes no more chunks", { state: "completing" });
