import type { Progress, RetryEvent } from "../types.js";
import { formatBytes, formatDuration, formatRate } from "./format.js";

const REDRAW_MS = 100;
const LOG_EVERY_MS = 2_000;

/**
 * Progress on stderr: a bar redrawn in place on a terminal, or a plain line every couple of
 * seconds when stderr is a file or a pipe (CI logs, `2> log`).
 */
export class ProgressView {
  private lastDraw = 0;
  private lastPhase = "";
  private drawn = false;
  private readonly stream: NodeJS.WriteStream;
  private readonly label: string;

  constructor(stream: NodeJS.WriteStream, label: string) {
    this.stream = stream;
    this.label = label;
  }

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  update(progress: Progress): void {
    const now = Date.now();
    const phaseChanged = progress.phase !== this.lastPhase;
    this.lastPhase = progress.phase;
    if (this.tty) {
      if (!phaseChanged && now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      // A pseudo-terminal without a size reports 0 columns.
      const line = this.barLine(progress).slice(0, Math.max(20, (this.stream.columns || 80) - 1));
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    if (!phaseChanged && now - this.lastDraw < LOG_EVERY_MS) return;
    this.lastDraw = now;
    this.stream.write(`${this.logLine(progress)}\n`);
  }

  note(message: string): void {
    this.clear();
    this.stream.write(`${message}\n`);
  }

  retry(event: RetryEvent): void {
    this.note(`${event.request}: ${event.reason}; retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)}s`);
  }

  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
  }

  private barLine(p: Progress): string {
    const rate = formatRate(p.bytesPerSecond);
    if (p.totalBytes === null) return `${this.label}  ${formatBytes(p.bytesSent)} sent  ${rate}  ${p.phase}`;
    const fraction = p.totalBytes === 0 ? 1 : p.bytesSent / p.totalBytes;
    const width = 24;
    const full = Math.round(fraction * width);
    const bar = "█".repeat(full) + "░".repeat(width - full);
    const eta =
      p.phase === "uploading" && p.etaSeconds !== null ? `  ETA ${formatDuration(p.etaSeconds)}` : `  ${p.phase}`;
    return `${this.label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}%  ${formatBytes(p.bytesSent)}/${formatBytes(p.totalBytes)}  ${rate}${eta}`;
  }

  private logLine(p: Progress): string {
    const of = p.totalBytes === null ? "" : ` of ${formatBytes(p.totalBytes)}`;
    const percent = p.totalBytes ? `${Math.floor((p.bytesAcknowledged / p.totalBytes) * 100)}% ` : "";
    const eta = p.etaSeconds !== null && p.phase === "uploading" ? `, ETA ${formatDuration(p.etaSeconds)}` : "";
    return `${this.label}: ${p.phase} ${percent}(${formatBytes(p.bytesSent)}${of} sent, ${formatBytes(p.bytesAcknowledged)} acknowledged), ${formatRate(p.bytesPerSecond)}${eta}`;
  }
}
