import { DurableObject } from "cloudflare:workers";
import { ApiError, errors } from "../../shared/errors";
import { authorizeUpload, authorizeUploadId } from "../auth/authorize";
import { type Caller, ownerOf } from "../auth/middleware";
import type { Env } from "../env";
import { assembleFinal } from "./assemble";
import { type BeginResult, LEASE_LOST, type Refusal, type TusMeta, type TusSnapshot } from "./types";

/**
 * A PATCH holds the upload for this long after its last call. Every PATCH frees it when it ends,
 * even when its client went away; only an invocation that dies outright leaves it held until then.
 */
const LEASE_MS = 120_000;
/** Tail rows are at most this big (a Durable Object's SQLite value is at most 2 MB). */
const ROW_BYTES = 1024 * 1024;
/**
 * How soon a final upload looks again whether its partials are completed: the consumer usually
 * completes them within its batch window, so first soon, then less and less often.
 */
const ASSEMBLY_POLL_MS = 250;
const ASSEMBLY_POLL_MAX_MS = 30_000;

type Lease = { id: string; until: number };

/**
 * One per tus upload. It serialises the upload's PATCH requests (one lease at a time: a second
 * PATCH gets 423), holds the offset, and keeps the bytes after the last whole part (less than
 * one part) in its SQLite storage until the next PATCH completes the part. The Worker that
 * handles the request does the R2, D1 and queue work with its own bindings: this object only
 * decides and remembers. Its storage is deleted when the upload expires or is terminated.
 */
export class TusUpload extends DurableObject<Env> {
  private lease: Lease | null = null;
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.createTables();
  }

  private createTables(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL,
      parts INTEGER NOT NULL, tail_bytes INTEGER NOT NULL)`);
    this.sql.exec("CREATE TABLE IF NOT EXISTS tail (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL)");
  }

  /** Drops everything the upload stored; the empty tables stay, so later calls find no upload. */
  private async forget(): Promise<void> {
    this.lease = null;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.createTables();
  }

  /** Registers the upload (idempotent: a second call changes nothing). */
  async init(meta: TusMeta): Promise<void> {
    this.sql.exec("INSERT OR IGNORE INTO meta (id, json, parts, tail_bytes) VALUES (1, ?, 0, 0)", JSON.stringify(meta));
    await this.ctx.storage.setAlarm(meta.concat === "final" ? Date.now() : meta.expiresAt);
  }

  /** The upload as HEAD reports it; null once its storage is gone (expired, terminated) or never was. */
  describe(caller: Caller): TusSnapshot | Refusal | null {
    const snapshot = this.snapshot();
    if (snapshot === null) return null;
    return this.authorized(caller, snapshot) ?? snapshot;
  }

  /**
   * Starts a PATCH at `offset`: refuses a second writer (423) and a wrong offset (409), records a
   * length declared now for a deferred upload, and hands out the lease every later call names.
   */
  begin(request: { caller: Caller; offset: number; length: number | null; now: number }): BeginResult {
    const snapshot = this.snapshot();
    if (snapshot === null) return null;
    const refused = this.authorized(request.caller, snapshot);
    if (refused !== undefined) return refused;
    if (snapshot.meta.concat === "final") {
      return refusal(403, "final_upload", "a final upload is assembled from its partial uploads and takes no PATCH");
    }
    if (this.lease !== null && this.lease.until > request.now) {
      return refusal(423, "upload_locked", "another PATCH is writing to this upload; retry shortly");
    }
    if (request.offset !== snapshot.offset) {
      return refusal(409, "offset_mismatch", `the upload's offset is ${snapshot.offset}, not ${request.offset}`);
    }
    if (request.length !== null) {
      if (snapshot.meta.length === null) {
        if (request.length < snapshot.offset) {
          return refusal(400, "invalid_length", `Upload-Length is below the offset ${snapshot.offset}`);
        }
        snapshot.meta.length = request.length;
        this.sql.exec("UPDATE meta SET json = ? WHERE id = 1", JSON.stringify(snapshot.meta));
      } else if (snapshot.meta.length !== request.length) {
        return refusal(400, "length_conflict", `the upload's length is already ${snapshot.meta.length}`);
      }
    }
    this.lease = { id: crypto.randomUUID(), until: request.now + LEASE_MS };
    return { lease: this.lease.id, snapshot };
  }

  /** The stored tail, oldest bytes first: the start of the next part. */
  storedTail(lease: string): ReadableStream<Uint8Array> {
    this.hold(lease);
    const rows = this.sql.exec<{ bytes: ArrayBuffer }>("SELECT bytes FROM tail ORDER BY seq").toArray();
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const row = rows.shift();
        if (row === undefined) controller.close();
        else controller.enqueue(new Uint8Array(row.bytes));
      },
    });
  }

  /** `count` more whole parts are recorded in D1; the first of them took the stored tail. */
  commitParts(lease: string, count: number, now: number): void {
    this.hold(lease);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM tail");
      this.sql.exec("UPDATE meta SET parts = parts + ?, tail_bytes = 0 WHERE id = 1", count);
      this.touch(now, true);
    });
  }

  /**
   * Ends a PATCH: stores the bytes it leaves short of a part as tail (they are durable from
   * here: the offset moves past them) and frees the upload for the next PATCH. Says whether D1
   * should hear of the activity, so the sweep does not take an upload whose bytes never became
   * a part.
   */
  async finish(
    lease: string,
    chunks: Uint8Array[],
    now: number,
  ): Promise<{ snapshot: TusSnapshot | null; touchD1: boolean }> {
    if (chunks.length > 0) {
      this.hold(lease);
      const rows = intoRows(chunks);
      this.ctx.storage.transactionSync(() => {
        let added = 0;
        for (const row of rows) {
          this.sql.exec("INSERT INTO tail (bytes) VALUES (?)", row);
          added += row.byteLength;
        }
        this.sql.exec("UPDATE meta SET tail_bytes = tail_bytes + ? WHERE id = 1", added);
        this.touch(now, false);
      });
    }
    if (this.lease?.id === lease) this.lease = null;
    const snapshot = this.snapshot();
    if (snapshot === null) return { snapshot, touchD1: false };
    const { meta } = snapshot;
    const touchD1 = meta.expiresAt - meta.d1ExpiresAt > (meta.staleAfterSeconds * 1000) / 2;
    if (touchD1) {
      meta.d1ExpiresAt = meta.expiresAt;
      this.sql.exec("UPDATE meta SET json = ? WHERE id = 1", JSON.stringify(meta));
    }
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(meta.expiresAt);
    return { snapshot, touchD1 };
  }

  /** Termination: forget everything, staged bytes included. */
  async terminate(): Promise<void> {
    await this.forget();
  }

  /** Expiry (and, for a final upload, its assembly). */
  override async alarm(): Promise<void> {
    const snapshot = this.snapshot();
    if (snapshot === null) return;
    const now = Date.now();
    if (snapshot.meta.concat === "final" && !snapshot.meta.assembled) {
      const outcome = await assembleFinal(this.env, snapshot.meta);
      if (outcome === "waiting") {
        const polls = (snapshot.meta.assemblyPolls ?? 0) + 1;
        snapshot.meta.assemblyPolls = polls;
        this.sql.exec("UPDATE meta SET json = ? WHERE id = 1", JSON.stringify(snapshot.meta));
        await this.ctx.storage.setAlarm(now + Math.min(ASSEMBLY_POLL_MAX_MS, ASSEMBLY_POLL_MS * 1.5 ** polls));
        return;
      }
      snapshot.meta.assembled = true;
      this.sql.exec("UPDATE meta SET json = ? WHERE id = 1", JSON.stringify(snapshot.meta));
    }
    if (now >= snapshot.meta.expiresAt) {
      // A partial's staged object outlives it only while a final upload may still take it.
      if (snapshot.meta.concat === "partial") await this.env.BUCKET.delete(snapshot.meta.key);
      await this.forget();
      return;
    }
    await this.ctx.storage.setAlarm(snapshot.meta.expiresAt);
  }

  private snapshot(): TusSnapshot | null {
    const row = this.sql
      .exec<{ json: string; parts: number; tail_bytes: number }>(
        "SELECT json, parts, tail_bytes FROM meta WHERE id = 1",
      )
      .toArray()[0];
    if (row === undefined) return null;
    const meta = JSON.parse(row.json) as TusMeta;
    const committed = Math.min(row.parts * meta.partSize, meta.length ?? Number.MAX_SAFE_INTEGER);
    const offset = meta.concat === "final" ? (meta.length ?? 0) : committed + row.tail_bytes;
    return { meta, parts: row.parts, tailBytes: row.tail_bytes, offset };
  }

  private authorized(caller: Caller, snapshot: TusSnapshot): Refusal | undefined {
    const { meta } = snapshot;
    try {
      if (meta.concat === "partial") {
        // A partial's key is our staging key, not the caller's: it belongs to whoever made it.
        authorizeUploadId(caller, meta.uploadId);
        if (caller.kind === "key" && ownerOf(caller) !== meta.owner)
          throw errors.forbidden("this partial upload belongs to another API key");
      } else {
        authorizeUpload(caller, { upload_id: meta.uploadId, object_key: meta.key });
      }
      return undefined;
    } catch (error) {
      if (error instanceof ApiError) return refusal(error.status, error.code, error.message);
      throw error;
    }
  }

  /** Checks the lease is still this PATCH's, and extends it. */
  private hold(lease: string): void {
    if (this.lease === null || this.lease.id !== lease) throw new Error(LEASE_LOST);
    this.lease.until = Date.now() + LEASE_MS;
  }

  private touch(now: number, d1Knows: boolean): void {
    const row = this.sql.exec<{ json: string }>("SELECT json FROM meta WHERE id = 1").toArray()[0];
    if (row === undefined) return;
    const meta = JSON.parse(row.json) as TusMeta;
    meta.expiresAt = now + meta.staleAfterSeconds * 1000;
    // A recorded part is activity D1 saw itself.
    if (d1Knows) meta.d1ExpiresAt = meta.expiresAt;
    this.sql.exec("UPDATE meta SET json = ? WHERE id = 1", JSON.stringify(meta));
  }
}

function refusal(status: Refusal["status"], code: string, message: string): Refusal {
  return { refused: true, status, code, message };
}

/** Packs chunks into rows of at most ROW_BYTES, copying so each row owns its bytes. */
function intoRows(chunks: Uint8Array[]): ArrayBuffer[] {
  const rows: ArrayBuffer[] = [];
  let current: Uint8Array[] = [];
  let size = 0;
  const flush = () => {
    if (size === 0) return;
    const row = new Uint8Array(size);
    let at = 0;
    for (const piece of current) {
      row.set(piece, at);
      at += piece.byteLength;
    }
    rows.push(row.buffer);
    current = [];
    size = 0;
  };
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.byteLength; ) {
      const take = Math.min(ROW_BYTES - size, chunk.byteLength - at);
      current.push(chunk.subarray(at, at + take));
      size += take;
      at += take;
      if (size === ROW_BYTES) flush();
    }
  }
  flush();
  return rows;
}
