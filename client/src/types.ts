/**
 * Enough to carry on an interrupted upload. Small and JSON-safe so a CLI can keep it in a file.
 * `acknowledged` lists parts whose PUT got a 2xx: the server will tally them even when its
 * status does not show them yet.
 */
export interface ResumeState {
  version: 1;
  uploadId: string;
  key: string;
  partSize: number;
  /** Total bytes, or null for a source of unknown length. */
  size: number | null;
  /** Part count the upload was created with, or null when it is fixed by the complete call. */
  parts: number | null;
  acknowledged: string[];
}

export type Phase = "starting" | "uploading" | "completing" | "waiting" | "done";

export interface Progress {
  uploadId: string | null;
  phase: Phase;
  /** Null until the end of a source of unknown length. */
  totalBytes: number | null;
  /** Bytes handed to the network, plus bytes the server already had on resume. Never decreases. */
  bytesSent: number;
  /** Bytes in parts the server answered 2xx for (or had already). Never decreases. */
  bytesAcknowledged: number;
  partsTotal: number | null;
  partsAcknowledged: number;
  /** Bytes per second put on the wire over the last few seconds (retries included). */
  bytesPerSecond: number;
  etaSeconds: number | null;
  elapsedMs: number;
}

export interface RetryPolicy {
  /** Attempts after the first one. */
  retries: number;
  baseDelayMs: number;
  /** Cap on one wait, a server's Retry-After included. */
  maxDelayMs: number;
}

export interface RetryEvent {
  /** What was being sent, e.g. "part 3" or "create". */
  request: string;
  attempt: number;
  delayMs: number;
  reason: string;
}
