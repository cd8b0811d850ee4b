import { completeUpload } from "./api.js";
import type { UploadStatus } from "./contract.js";
import type { Transport } from "./http.js";

/**
 * How an upload created without a part count (a source of unknown length) is closed: with an
 * explicit complete call once every part got its 2xx, or by marking the last part
 * `?final=1`, which fixes the count on the server so that it completes by itself. The part
 * splitter knows which part is last before sending it, so both work with any source.
 */
export interface FinishStrategy {
  /** Query parameters for a part's PUT. */
  partQuery(part: { partNumber: number; final: boolean }): Record<string, string>;
  /** Null when nothing is left to do once every part got its 2xx. */
  finish(transport: Transport, uploadId: string, parts: number): Promise<UploadStatus | null>;
}

const explicitComplete: FinishStrategy = {
  partQuery: () => ({}),
  finish: (transport, uploadId, parts) => completeUpload(transport, uploadId, parts),
};

const finalPartMarker: FinishStrategy = {
  partQuery: ({ final }): Record<string, string> => (final ? { final: "1" } : {}),
  finish: async () => null,
};

export const FINISH_STRATEGIES = { complete: explicitComplete, "final-marker": finalPartMarker } as const;
export type FinishName = keyof typeof FINISH_STRATEGIES;

/** Switching every client to the final-part marker is this one line. */
export const DEFAULT_FINISH: FinishName = "complete";
