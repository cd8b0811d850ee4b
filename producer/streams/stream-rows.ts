import { readPart, readPartWhole, WHOLE_PART_BYTES } from "./part-bytes";
import type { Run } from "./plan";
import { ROW_BYTES } from "./read-chunk";
import { summarizeChunks } from "./summary";
import type { PartPlan, ReadChunk, StreamMeta, StreamSummary } from "./types";

export type ChunkRow = { seq: number; size: number; md5: string; sha256: string | null; committed: number };

/**
 * A chunk stream's SQLite storage, and what its object keeps in memory of it: the meta row, the
 * contiguous run of chunks from the cursor and the highest sequence number stored. These copies
 * are only ever changed through here, on the object's one thread, and forgotten with any
 * transaction that rolls back.
 */
export class StreamRows {
  private readonly sql: SqlStorage;
  /** The meta row as last read or written; undefined: not read since the object woke up. */
  private metaCache: StreamMeta | null | undefined;
  /**
   * Kept in memory, not in the meta row, so that a chunk costs one row write (the chunk's own):
   * rebuilt from the chunk rows when the object wakes up (one pass over the staged chunks).
   */
  private runCache: Run | null = null;
  /**
   * The highest sequence number stored, or null: not read since the object woke up. A chunk
   * above it cannot have a row, so an in-order stream's chunk costs one statement (its insert).
   */
  private highestCache: number | null = null;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    this.createTables();
  }

  private createTables(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL)");
    // committed = 1: the chunk's bytes are in a written part (bytes dropped, the digest kept).
    this.sql.exec(`CREATE TABLE IF NOT EXISTS chunks (seq INTEGER PRIMARY KEY, size INTEGER NOT NULL,
      md5 TEXT NOT NULL, sha256 TEXT, committed INTEGER NOT NULL DEFAULT 0, bytes BLOB)`);
    // Bytes of chunks over one row: row 0 is chunks.bytes, rows 1.. live here.
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS overflow (seq INTEGER NOT NULL, idx INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY (seq, idx))",
    );
  }

  /** Registers the stream (a second registration changes nothing). */
  register(meta: StreamMeta): void {
    this.sql.exec("INSERT OR IGNORE INTO meta (id, json) VALUES (1, ?)", JSON.stringify(meta));
    this.metaCache = undefined;
  }

  /** A copy of the meta row, read from storage once per wake-up; null: no stream here. */
  meta(): StreamMeta | null {
    if (this.metaCache === undefined) {
      const row = this.sql.exec<{ json: string }>("SELECT json FROM meta WHERE id = 1").toArray()[0];
      this.metaCache = row === undefined ? null : (JSON.parse(row.json) as StreamMeta);
    }
    return this.metaCache === null ? null : { ...this.metaCache };
  }

  save(meta: StreamMeta): void {
    this.sql.exec("UPDATE meta SET json = ? WHERE id = 1", JSON.stringify(meta));
    this.metaCache = { ...meta };
  }

  /** A storage transaction; one that throws rolls back, and so do the copies kept in memory. */
  transact<T>(work: () => T): T {
    try {
      return this.storage.transactionSync(work);
    } catch (error) {
      this.forgetCached();
      throw error;
    }
  }

  row(seq: number): ChunkRow | null {
    if (seq > this.highestSeq()) return null;
    return (
      this.sql.exec<ChunkRow>("SELECT seq, size, md5, sha256, committed FROM chunks WHERE seq = ?", seq).toArray()[0] ??
      null
    );
  }

  readonly sizeOf = (seq: number): number | null => this.row(seq)?.size ?? null;

  highestSeq(): number {
    this.highestCache ??= this.sql.exec<{ h: number }>("SELECT coalesce(max(seq), 0) AS h FROM chunks").one().h;
    return this.highestCache;
  }

  /** Stores a chunk's bytes and digests, in place of `earlier`, the staged copy of it if any. */
  storeChunk(seq: number, read: ReadChunk, earlier: ChunkRow | null): void {
    if (earlier !== null && earlier.size > ROW_BYTES) this.sql.exec("DELETE FROM overflow WHERE seq = ?", seq);
    this.highestCache = Math.max(this.highestSeq(), seq);
    const [first, ...rest] = read.rows;
    this.sql.exec(
      "INSERT OR REPLACE INTO chunks (seq, size, md5, sha256, committed, bytes) VALUES (?, ?, ?, ?, 0, ?)",
      seq,
      read.size,
      read.md5,
      read.sha256,
      first ?? new ArrayBuffer(0),
    );
    rest.forEach((bytes, index) => {
      this.sql.exec("INSERT INTO overflow (seq, idx, bytes) VALUES (?, ?, ?)", seq, index + 1, bytes);
    });
  }

  /** Chunks wholly in a written part keep their digests (re-sends are checked against them), not their bytes. */
  commitChunks(from: number, before: number): void {
    this.sql.exec("UPDATE chunks SET committed = 1, bytes = NULL WHERE seq >= ? AND seq < ?", from, before);
    this.sql.exec("DELETE FROM overflow WHERE seq >= ? AND seq < ?", from, before);
  }

  /** A part's bytes, in order: whole, or for a large part read as they are pulled. */
  partBytes(plan: PartPlan): Uint8Array | ReadableStream<Uint8Array> {
    return plan.size <= WHOLE_PART_BYTES ? readPartWhole(this.sql, plan) : readPart(this.sql, plan);
  }

  summary(meta: StreamMeta): StreamSummary {
    return summarizeChunks(this.sql, meta, this.run(meta).through);
  }

  /** The contiguous run from the cursor, rebuilt from the rows when the object wakes up. */
  run(meta: StreamMeta): Run {
    if (this.runCache !== null) return this.runCache;
    const run: Run = { through: meta.nextChunk - 1, bytes: -meta.nextOffset };
    for (let next = this.row(meta.nextChunk); next !== null && next.committed === 0; next = this.row(run.through + 1)) {
      run.through = next.seq;
      run.bytes += next.size;
    }
    if (run.through < meta.nextChunk) run.bytes = 0;
    this.runCache = run;
    return run;
  }

  /** Moves the contiguous run (chunks from the cursor with no gap) after chunk `seq` changed. */
  extendRun(meta: StreamMeta, seq: number, size: number, delta: number, replaced: boolean): void {
    const run = this.run(meta);
    if (seq <= run.through) {
      if (replaced) run.bytes += delta;
      return;
    }
    if (seq !== run.through + 1) return;
    run.through = seq;
    run.bytes += size;
    for (let next = this.row(seq + 1); next !== null; next = this.row(run.through + 1)) {
      run.through = next.seq;
      run.bytes += next.size;
    }
  }

  /** Drops every row (and the alarm): the object holds no stream any more. */
  async clear(): Promise<void> {
    this.forgetCached();
    await this.storage.deleteAlarm();
    await this.storage.deleteAll();
    // Empty tables again, so that later calls find no stream rather than no table.
    this.createTables();
    this.forgetCached();
  }

  private forgetCached(): void {
    this.metaCache = undefined;
    this.runCache = null;
    this.highestCache = null;
  }
}
