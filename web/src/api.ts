// The app talks to the API through the project's own client library (its portable core), so the
// request and response types are the ones generated from the OpenAPI document.
import { abortUpload, getObject, getStatus } from "../../client/src/api";
import type { ListUploadsQuery, UploadList, UploadStatus, UploadSummary } from "../../client/src/contract";
import { IngestError } from "../../client/src/errors";
import { createTransport, type Transport } from "../../client/src/http";
import { getUploadSummary, listUploads } from "../../client/src/listing";

export type {
  ListUploadsQuery,
  UploadList,
  UploadListItem,
  UploadState,
  UploadStatus,
  UploadSummary,
} from "../../client/src/contract";

/** Same origin as the page: the producer serves both. */
const endpoint = () => new URL("./", location.href);

export interface Api {
  summary(): Promise<UploadSummary>;
  list(query: ListUploadsQuery): Promise<UploadList>;
  status(uploadId: string): Promise<UploadStatus>;
  abort(uploadId: string): Promise<UploadStatus>;
  download(key: string): Promise<Blob>;
}

export function createApi(apiKey: string): Api {
  // A page that refreshes every few seconds retries by refreshing: one quick retry is enough.
  const transport: Transport = createTransport({
    endpoint: endpoint(),
    credentials: { token: apiKey },
    retry: { retries: 1, baseDelayMs: 200, maxDelayMs: 1_000 },
    attemptTimeoutMs: 30_000,
  });
  return {
    summary: () => getUploadSummary(transport),
    list: (query) => listUploads(transport, query),
    status: (uploadId) => getStatus(transport, uploadId),
    abort: (uploadId) => abortUpload(transport, uploadId),
    download: async (key) => (await getObject(transport, key)).blob(),
  };
}

/** What a person should read when a request failed. */
export function describeError(error: unknown): string {
  if (error instanceof IngestError) {
    if (error.status === 401) return "That API key was not accepted (401). Check it and sign in again.";
    if (error.status === 403) return "This API key may not see that (403).";
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export const isUnauthorized = (error: unknown) => error instanceof IngestError && error.status === 401;
export const isNotFound = (error: unknown) => error instanceof IngestError && error.status === 404;
