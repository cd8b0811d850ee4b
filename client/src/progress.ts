import type { Phase, Progress } from "./types.js";

const WINDOW_MS = 5_000;

/**
 * Keeps the numbers `onProgress` reports. Both byte counters only ever grow: a part that is
 * re-sent after a failure counts again only once it gets further than the earlier attempt did.
 */
export class ProgressMeter {
  private uploadId: string | null = null;
  private phase: Phase = "starting";
  private totalBytes: number | null = null;
  private partsTotal: number | null = null;
  private bytesSent = 0;
  private bytesAcknowledged = 0;
  private partsAcknowledged = 0;
  private wireBytes = 0;
  private readonly sentByPart = new Map<number, number>();
  private readonly attemptBytes = new Map<number, number>();
  private readonly samples: Array<{ at: number; wire: number }> = [];
  private readonly started: number;
  private lastEmit = -Infinity;

  private readonly listener: ((progress: Progress) => void) | undefined;
  private readonly now: () => number;
  private readonly intervalMs: number;

  constructor(listener: ((progress: Progress) => void) | undefined, now: () => number = Date.now, intervalMs = 100) {
    this.listener = listener;
    this.now = now;
    this.intervalMs = intervalMs;
    this.started = now();
    this.samples.push({ at: this.started, wire: 0 });
  }

  begin(uploadId: string, totalBytes: number | null, partsTotal: number | null): void {
    this.uploadId = uploadId;
    this.totalBytes = totalBytes;
    this.partsTotal = partsTotal;
    this.setPhase("uploading");
  }

  /** A source of unknown length has ended: now the totals are known. */
  learnTotals(totalBytes: number, partsTotal: number): void {
    this.totalBytes = totalBytes;
    this.partsTotal = partsTotal;
  }

  /** A new attempt at a part starts from zero; only bytes beyond the best attempt count. */
  startAttempt(partNumber: number): void {
    this.attemptBytes.set(partNumber, 0);
  }

  sent(partNumber: number, bytes: number): void {
    this.wireBytes += bytes;
    const attempt = (this.attemptBytes.get(partNumber) ?? 0) + bytes;
    this.attemptBytes.set(partNumber, attempt);
    const best = this.sentByPart.get(partNumber) ?? 0;
    if (attempt > best) {
      this.sentByPart.set(partNumber, attempt);
      this.bytesSent += attempt - best;
    }
    this.emit(false);
  }

  /** A 2xx for the part, or a part the server already had when resuming. */
  acknowledged(partNumber: number, size: number): void {
    const best = this.sentByPart.get(partNumber) ?? 0;
    if (size > best) {
      this.bytesSent += size - best;
      this.sentByPart.set(partNumber, size);
    }
    this.attemptBytes.delete(partNumber);
    this.bytesAcknowledged += size;
    this.partsAcknowledged++;
    this.emit(true);
  }

  /** The server turned out to hold every part: count what this run did not send as done. */
  catchUp(): void {
    if (this.totalBytes === null) return;
    this.bytesSent = Math.max(this.bytesSent, this.totalBytes);
    this.bytesAcknowledged = Math.max(this.bytesAcknowledged, this.totalBytes);
    this.partsAcknowledged = Math.max(this.partsAcknowledged, this.partsTotal ?? 0);
  }

  setPhase(phase: Phase): void {
    this.phase = phase;
    this.emit(true);
  }

  snapshot(): Progress {
    const now = this.now();
    while (this.samples.length > 1 && (this.samples[1]?.at ?? now) <= now - WINDOW_MS) this.samples.shift();
    const oldest = this.samples[0] ?? { at: this.started, wire: 0 };
    this.samples.push({ at: now, wire: this.wireBytes });
    const seconds = (now - oldest.at) / 1000;
    const bytesPerSecond = seconds > 0 ? (this.wireBytes - oldest.wire) / seconds : 0;
    const remaining = this.totalBytes === null ? null : this.totalBytes - this.bytesSent;
    return {
      uploadId: this.uploadId,
      phase: this.phase,
      totalBytes: this.totalBytes,
      bytesSent: this.bytesSent,
      bytesAcknowledged: this.bytesAcknowledged,
      partsTotal: this.partsTotal,
      partsAcknowledged: this.partsAcknowledged,
      bytesPerSecond,
      etaSeconds:
        remaining === null ? null : remaining === 0 ? 0 : bytesPerSecond > 0 ? remaining / bytesPerSecond : null,
      elapsedMs: now - this.started,
    };
  }

  /** Chunk-level updates are throttled; part acknowledgements and phase changes always go out. */
  emit(force: boolean): void {
    if (this.listener === undefined) return;
    const now = this.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    this.listener(this.snapshot());
  }
}
