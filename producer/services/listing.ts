import {
  type KeyRange,
  type ListCursor,
  type ListFilter,
  type ListRow,
  listUploads,
  prefixRange,
  sortValue,
  summarizeUploads,
} from "../../shared/db/listing";
import { fromBase64, toBase64Url } from "../../shared/encoding";
import { errors } from "../../shared/errors";
import {
  DEFAULT_LIST_LIMIT,
  type ListApi,
  type ListOrder,
  type UploadList,
  type UploadListItem,
  type UploadSummary,
} from "../../shared/listing-schemas";
import type { UploadState } from "../../shared/schemas";
import type { Caller } from "../auth/middleware";

const HOUR_MS = 60 * 60 * 1000;
/** The window of the summary's `recent` totals. */
const RECENT_HOURS = 24;
const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

/**
 * The keys a caller may list, narrowed by the prefix it asked for: a prefix-limited API key sees
 * only its own prefix, whatever it asks. Null when the two do not overlap (an empty page).
 */
export function visibleKeys(caller: Caller, asked: string | undefined): KeyRange | null {
  const own = caller.kind === "key" ? caller.key.prefix : "";
  const wanted = asked ?? "";
  if (wanted.startsWith(own)) return prefixRange(wanted);
  if (own.startsWith(wanted)) return prefixRange(own);
  return null;
}

export type ListQuery = {
  /** Comma-separated states. */
  state?: string;
  prefix?: string;
  api?: ListApi;
  createdAfter?: string;
  staleBefore?: string;
  order?: ListOrder;
  limit?: number;
  cursor?: string;
};

/** One page of the uploads the caller may see, and the cursor of the next. */
export async function listPage(db: D1Database, caller: Caller, query: ListQuery): Promise<UploadList> {
  const order = query.order ?? "newest";
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  const filter: ListFilter = {
    keys: visibleKeys(caller, query.prefix),
    states: query.state === undefined ? null : ([...new Set(query.state.split(","))] as UploadState[]),
    api: query.api ?? null,
    createdAfter: query.createdAfter === undefined ? null : Date.parse(query.createdAfter),
    staleBefore: query.staleBefore === undefined ? null : Date.parse(query.staleBefore),
  };
  const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor, order);
  // One row more than the page tells whether there is a next one.
  const rows = await listUploads(db, filter, order, cursor, limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toListItem),
    nextCursor:
      rows.length > limit && last !== undefined
        ? encodeCursor(order, { at: sortValue(last, order), uploadId: last.upload_id })
        : null,
  };
}

/** The summary of the uploads the caller may see. */
export async function summary(db: D1Database, caller: Caller, now: number): Promise<UploadSummary> {
  const keys = visibleKeys(caller, undefined) as KeyRange;
  const since = now - RECENT_HOURS * HOUR_MS;
  const row = await summarizeUploads(db, keys, now + HOUR_MS, since);
  const { recent } = row;
  return {
    byState: row.byState,
    bytesInFlight: row.bytesInFlight,
    oldestOpen:
      row.oldestOpen === null
        ? null
        : {
            uploadId: row.oldestOpen.upload_id,
            key: row.oldestOpen.object_key,
            createdAt: iso(row.oldestOpen.created_at),
          },
    expiringWithinHour: row.expiringBy,
    recent: {
      since: iso(since),
      ...recent.ended,
      bytesCompleted: recent.bytesCompleted,
      completionLatencyMs: recent.latency,
    },
    generatedAt: iso(now),
  };
}

export function toListItem(row: ListRow): UploadListItem {
  return {
    uploadId: row.upload_id,
    key: row.object_key,
    api: row.api,
    mode: row.mode,
    state: row.state,
    partSize: row.part_size,
    expectedParts: row.expected_parts,
    receivedParts: row.received_parts,
    bytesReceived: row.bytes_received,
    size: row.object_size,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    lastActivityAt: iso(row.last_activity_at),
    expiresAt: row.state === "open" ? iso(row.expires_at) : null,
    completedAt: isoOrNull(row.completed_at),
    reason: row.reason,
  };
}

/**
 * Cursors are opaque to clients: the order, the last item's sort value and its id, base64url.
 * A cursor of another order is refused rather than read as a position it never was.
 */
const ORDER_TAGS: Record<ListOrder, string> = { newest: "n", oldest: "o", expiring: "e" };

export function encodeCursor(order: ListOrder, cursor: ListCursor): string {
  return toBase64Url(new TextEncoder().encode(`${ORDER_TAGS[order]}.${cursor.at}.${cursor.uploadId}`));
}

export function decodeCursor(text: string, order: ListOrder): ListCursor {
  const bytes = fromBase64(text);
  const match = bytes === null ? null : /^([a-z])\.(\d{1,16})\.(.{1,1024})$/s.exec(new TextDecoder().decode(bytes));
  if (match === null || match[1] !== ORDER_TAGS[order]) {
    throw errors.invalidRequest("invalid query: cursor: not a cursor of this listing's order", [
      { path: "cursor", message: "not a cursor of this listing's order" },
    ]);
  }
  return { at: Number(match[2]), uploadId: match[3] as string };
}
