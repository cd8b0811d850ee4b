// The portable client: fetch, Blob and web streams only, so it runs in Node, browsers and
// Workers. Node's file access lives in ./node/.
export { abortUpload, completeUpload, createUpload, getObject, getStatus } from "./api.js";
export type {
  ChunkStagedResponse,
  CompleteUploadRequest,
  CreatedUpload,
  CreateUploadRequest,
  DeadLetter,
  DeadLetterList,
  DeadLetterReplay,
  DeadLetterState,
  ErrorBody,
  ListDeadLettersQuery,
  ListOrder,
  ListUploadsQuery,
  ObjectInfo,
  PartUploadedResponse,
  StreamStatus,
  UploadApi,
  UploadList,
  UploadListItem,
  UploadMode,
  UploadState,
  UploadStatus,
  UploadSummary,
} from "./contract.js";
export { DEAD_LETTER_STATES, discardDeadLetter, listDeadLetters, replayDeadLetter } from "./dead-letters.js";
export { IngestError } from "./errors.js";
export type { FinishName } from "./finish.js";
export { createTransport, type Transport, type TransportOptions } from "./http.js";
export { getUploadSummary, listUploads } from "./listing.js";
export { DEFAULT_PART_SIZE, formatRanges, parseRanges } from "./parts.js";
export { DEFAULT_RETRY } from "./retry.js";
export type { UploadSource } from "./sources.js";
export type { Phase, Progress, ResumeState, RetryEvent, RetryPolicy } from "./types.js";
export { type UploadOptions, type UploadResult, upload } from "./upload.js";
