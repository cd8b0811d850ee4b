import type { UploadStatus } from "./contract.js";
import type { FinishName } from "./finish.js";
import type { TransportOptions } from "./http.js";
import type { Progress, ResumeState } from "./types.js";

export interface UploadOptions extends TransportOptions {
  /** Object key. Required for a new upload; taken from the server when resuming. */
  key?: string;
  /** Bytes per part; default 8 MiB (grown for files over 80 GB). The server enforces >= 5 MiB. */
  partSize?: number;
  /** Parts in flight at once; memory use is at most concurrency x partSize. Default 4. */
  concurrency?: number;
  /** Resolve only once the server reports the object completed. Default false. */
  wait?: boolean | { timeoutMs?: number };
  /** Carry on an interrupted upload: its id, or the state `onCheckpoint`/`IngestError.resumeState` gave. */
  resume?: string | ResumeState;
  onProgress?: (progress: Progress) => void;
  /** Least time between two progress events about bytes on the wire; part and phase events always go out. Default 100. */
  progressIntervalMs?: number;
  /** Called with fresh resume state once the upload exists and after every acknowledged part. */
  onCheckpoint?: (state: ResumeState) => void;
  /** Content-Type of the stored object. */
  contentType?: string;
  /** Custom metadata stored on the object. */
  metadata?: Record<string, string>;
  /** SHA-256 of the whole source (hex or base64): the server verifies the object against it once complete. */
  sha256?: string;
  /** Abort the upload after this many seconds without activity (the server's default and maximum apply). */
  staleAfterSeconds?: number;
  /**
   * How a source of unknown length is closed: "complete" (default) calls
   * POST /uploads/{id}/complete after the last part; "final-marker" sends the last part with
   * `?final=1` and the server completes by itself. Known-size sources need neither.
   */
  finish?: FinishName;
  /**
   * Stream part bodies so progress moves as bytes go out (default, when `onProgress` is
   * set; without it parts go out whole). Browsers only stream request bodies over HTTP/2 and
   * never with a Content-Length: set false there.
   */
  streamBodies?: boolean;
}

export interface UploadResult {
  uploadId: string;
  key: string;
  size: number;
  parts: number;
  partSize: number;
  /** "completed" once the server said so; "completing" when it finishes the object on its own. */
  state: "completed" | "completing";
  /** The last status read, when one was (with `object` once completed). */
  status: UploadStatus | null;
  partsSent: number;
  /** Bytes in the parts this run sent (and got a 2xx for): what the transfer rate is made of. */
  bytesSent: number;
  partsSkipped: number;
  resumed: boolean;
  /** From start to the last part's 2xx (or the complete call): the transfer itself. */
  transferMs: number;
  /** Including any wait for the server to complete the object. */
  durationMs: number;
}
