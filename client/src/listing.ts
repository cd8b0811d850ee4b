import { readJson } from "./api.js";
import type { ListUploadsQuery, UploadList, UploadSummary } from "./contract.js";
import { IngestError } from "./errors.js";
import { isRecord, send, type Transport } from "./http.js";

/**
 * The query string of GET /uploads. Several states go as repeated `state=` parameters, which the
 * server reads like its comma form; times are sent as ISO 8601 whatever the caller passed.
 */
export function listQuery(query: ListUploadsQuery): URLSearchParams {
  const params = new URLSearchParams();
  const states = query.state === undefined ? [] : typeof query.state === "string" ? [query.state] : query.state;
  for (const state of states) params.append("state", state);
  if (query.prefix !== undefined) params.set("prefix", query.prefix);
  if (query.api !== undefined) params.set("api", query.api);
  if (query.createdAfter !== undefined) params.set("createdAfter", isoTime(query.createdAfter));
  if (query.staleBefore !== undefined) params.set("staleBefore", isoTime(query.staleBefore));
  if (query.order !== undefined) params.set("order", query.order);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.cursor !== undefined) params.set("cursor", query.cursor);
  return params;
}

const isoTime = (time: string | Date) => (typeof time === "string" ? time : time.toISOString());

/** Checks what a caller pages and prints by, so a wrong endpoint fails here rather than in a table. */
function isList(value: unknown): value is UploadList {
  return (
    isRecord(value) &&
    (value.nextCursor === null || typeof value.nextCursor === "string") &&
    Array.isArray(value.items) &&
    value.items.every(
      (item) =>
        isRecord(item) &&
        typeof item.uploadId === "string" &&
        typeof item.key === "string" &&
        typeof item.state === "string",
    )
  );
}

const isSummary = (value: unknown): value is UploadSummary =>
  isRecord(value) &&
  isRecord(value.byState) &&
  typeof value.bytesInFlight === "number" &&
  typeof value.expiringWithinHour === "number" &&
  (value.oldestOpen === null || isRecord(value.oldestOpen));

/**
 * GET /uploads: one page of uploads, newest first unless `order` says otherwise. Pass the page's
 * `nextCursor` as `cursor` (with the same filters) for the next one; it is null after the last.
 */
export async function listUploads(transport: Transport, query: ListUploadsQuery = {}): Promise<UploadList> {
  const search = listQuery(query).toString();
  const response = await send(transport, {
    method: "GET",
    path: `uploads${search === "" ? "" : `?${search}`}`,
    label: "list",
  });
  const answer = await readJson(response, "list");
  if (!isList(answer)) throw new IngestError("bad_response", "list: the server's answer is not a page of uploads");
  return answer;
}

/** GET /uploads/summary: counts by state, bytes in flight, the oldest open upload, what expires within the hour. */
export async function getUploadSummary(transport: Transport): Promise<UploadSummary> {
  const response = await send(transport, { method: "GET", path: "uploads/summary", label: "summary" });
  const answer = await readJson(response, "summary");
  if (!isSummary(answer)) throw new IngestError("bad_response", "summary: the server's answer is not a summary");
  return answer;
}
