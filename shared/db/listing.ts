import type { ListApi, ListOrder } from "../listing-schemas";
import { STAGING_PREFIX, type UploadState } from "../schemas";
import type { UploadRow } from "./uploads";

/**
 * The listing queries: a page of uploads by keyset, and the summary figures. Every filter is
 * a condition that an index of migration 0009 can serve; the page seeks from the cursor, so a
 * deep page costs what the first one does.
 */

/** A range of object keys, [from, to): what a key prefix selects. `to` null: no upper bound. */
export type KeyRange = { from: string; to: string | null };

export type ListFilter = {
  /** The object keys the caller may see and asked for; null: the caller sees nothing. */
  keys: KeyRange | null;
  states: readonly UploadState[] | null;
  api: ListApi | null;
  /** Epoch ms: created strictly after. */
  createdAfter: number | null;
  /** Epoch ms: open uploads whose expiry is before it. */
  staleBefore: number | null;
};

/** Where the previous page ended: its last item's sort value and id. */
export type ListCursor = { at: number; uploadId: string };

export type ListRow = Pick<
  UploadRow,
  | "upload_id"
  | "object_key"
  | "api"
  | "mode"
  | "state"
  | "part_size"
  | "expected_parts"
  | "object_size"
  | "created_at"
  | "updated_at"
  | "last_activity_at"
  | "expires_at"
  | "completed_at"
> & { reason: string | null; received_parts: number; bytes_received: number };

/**
 * The keys that start with `prefix`, as a range SQLite can seek in an index. Text compares as
 * UTF-8 bytes (BINARY), where code point order is byte order, so the keys with the prefix are
 * those from the prefix up to (not including) the prefix with its last code point raised by one.
 */
export function prefixRange(prefix: string): KeyRange {
  const points = [...prefix];
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number;
    if (last < 0x10ffff) {
      // The surrogate code points are no characters: step over them.
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return { from: prefix, to: points.join("") + String.fromCodePoint(next) };
    }
  }
  return { from: prefix, to: null };
}

const STAGING = prefixRange(STAGING_PREFIX);

/** An upload opened through tus: it has a tus_uploads row (uploads.api says "native"). */
const isTus = (u: string) => `EXISTS (SELECT 1 FROM tus_uploads t WHERE t.upload_id = ${u}.upload_id)`;

const API_CONDITIONS: Record<ListApi, (u: string) => string> = {
  tus: isTus,
  stream: (u) => `${u}.mode = 'stream'`,
  native: (u) => `${u}.api = 'native' AND ${u}.mode = 'parts' AND NOT ${isTus(u)}`,
  compat: (u) => `${u}.api = 'compat'`,
};

const ORDERS: Record<ListOrder, { column: string; direction: "ASC" | "DESC"; after: ">" | "<" }> = {
  newest: { column: "created_at", direction: "DESC", after: "<" },
  oldest: { column: "created_at", direction: "ASC", after: ">" },
  // Only open uploads expire; the others have no place in this order.
  expiring: { column: "expires_at", direction: "ASC", after: ">" },
};

/** Binds values to numbered parameters as the conditions are written. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `?${this.values.length}`;
  }
}

/**
 * Conditions on uploads `u` that scope both the list and the summary: the visible key range,
 * never staging keys. `key` is how the key is read: the list writes `+u.object_key` (the same
 * value), which keeps SQLite on the index of the page's order, where the key is checked inside
 * the index, instead of reading the key range and sorting it (see migration 0009).
 */
function scope(keys: KeyRange, params: Params, key = "u.object_key"): string[] {
  const out = [`${key} >= ${params.add(keys.from)}`];
  if (keys.to !== null) out.push(`${key} < ${params.add(keys.to)}`);
  out.push(`NOT (${key} >= ${params.add(STAGING.from)} AND ${key} < ${params.add(STAGING.to)})`);
  return out;
}

/** The SQL of one page: `limit` rows after the cursor, in the order's keyset order. */
export function listQuery(
  filter: ListFilter & { keys: KeyRange },
  order: ListOrder,
  cursor: ListCursor | null,
  limit: number,
): { sql: string; values: unknown[] } {
  const params = new Params();
  const where = scope(filter.keys, params, "+u.object_key");
  if (filter.states !== null) {
    // One state: its range of uploads_by_state_created is in order. Several: `+u.state` walks
    // the order's index and checks the state there, rather than merge-sorting several ranges.
    const column = filter.states.length === 1 ? "u.state" : "+u.state";
    where.push(`${column} IN (${filter.states.map((state) => params.add(state)).join(", ")})`);
  }
  if (filter.api !== null) where.push(API_CONDITIONS[filter.api]("u"));
  if (filter.createdAfter !== null) where.push(`u.created_at > ${params.add(filter.createdAfter)}`);
  if (filter.staleBefore !== null) where.push(`u.state = 'open' AND u.expires_at < ${params.add(filter.staleBefore)}`);
  const { column, direction, after } = ORDERS[order];
  if (order === "expiring") where.push("u.state = 'open'");
  if (cursor !== null) {
    where.push(`(u.${column}, u.upload_id) ${after} (${params.add(cursor.at)}, ${params.add(cursor.uploadId)})`);
  }
  const sql = `SELECT u.upload_id, u.object_key, CASE WHEN ${isTus("u")} THEN 'tus' ELSE u.api END AS api, u.mode, \
u.state, u.part_size, u.expected_parts, u.object_size, u.created_at, u.updated_at, u.last_activity_at, u.expires_at, \
u.completed_at, coalesce(u.abort_reason, u.failure_reason) AS reason, \
(SELECT count(*) FROM parts p WHERE p.upload_id = u.upload_id) AS received_parts, \
(SELECT coalesce(sum(p.size), 0) FROM parts p WHERE p.upload_id = u.upload_id) AS bytes_received \
FROM uploads u WHERE ${where.join(" AND ")} \
ORDER BY u.${column} ${direction}, u.upload_id ${direction} LIMIT ${params.add(limit)}`;
  return { sql, values: params.values };
}

/** The sort value a cursor carries for a row in this order. */
export function sortValue(row: ListRow, order: ListOrder): number {
  return order === "expiring" ? row.expires_at : row.created_at;
}

/** One page of uploads. */
export async function listUploads(
  db: D1Database,
  filter: ListFilter,
  order: ListOrder,
  cursor: ListCursor | null,
  limit: number,
): Promise<ListRow[]> {
  if (filter.keys === null) return [];
  const { sql, values } = listQuery({ ...filter, keys: filter.keys }, order, cursor, limit);
  const { results } = await db
    .prepare(sql)
    .bind(...values)
    .all<ListRow>();
  return results;
}

/** SQLite's plan for a query: one line per step (`SEARCH u USING INDEX …`). */
export async function queryPlan(db: D1Database, query: { sql: string; values: unknown[] }): Promise<string[]> {
  const { results } = await db
    .prepare(`EXPLAIN QUERY PLAN ${query.sql}`)
    .bind(...query.values)
    .all<{ detail: string }>();
  return results.map((row) => row.detail);
}

export type SummaryRow = {
  byState: Record<UploadState, number>;
  bytesInFlight: number;
  oldestOpen: Pick<UploadRow, "upload_id" | "object_key" | "created_at"> | null;
  expiringBy: number;
  recent: RecentRow;
};

/** What ended since a time: counts per state, bytes completed, latency of recent completions. */
export type RecentRow = {
  ended: Record<"completed" | "failed" | "aborted", number>;
  bytesCompleted: number;
  /** Last part -> completed, nearest rank over the newest completions (at most LATENCY_SAMPLE). */
  latency: { p50: number; p95: number; sample: number } | null;
};

/** Completions whose latency the percentiles read: a bounded sort, however busy the window. */
export const LATENCY_SAMPLE = 1000;

/**
 * The two statements of `recent`, both on the partial index uploads_ended (0013): the totals per
 * state, then the latency of the newest completions (percentiles are taken from those rows).
 */
export function recentQueries(keys: KeyRange, since: number): { sql: string; values: unknown[] }[] {
  const query = (state: string, select: string, tail: string) => {
    const params = new Params();
    // Written as the index's own condition, so that SQLite knows the partial index applies.
    const where = ["u.state IN ('completed', 'failed', 'aborted')", state, `u.updated_at >= ${params.add(since)}`];
    return {
      sql: `SELECT ${select} FROM uploads u WHERE ${[...where, ...scope(keys, params)].join(" AND ")} ${tail}`,
      values: params.values,
    };
  };
  return [
    query("1", "u.state, count(*) AS n, sum(u.object_size) AS bytes", "GROUP BY u.state"),
    query(
      "u.state = 'completed'",
      "max(0, u.completed_at - u.last_activity_at) AS ms",
      `ORDER BY u.updated_at DESC LIMIT ${LATENCY_SAMPLE}`,
    ),
  ];
}

/**
 * The summary of the uploads in a key range, in one round trip. `expiringBy`: epoch ms;
 * `since`: the start of the window of `recent`.
 */
export async function summarizeUploads(
  db: D1Database,
  keys: KeyRange,
  expiringBy: number,
  since: number,
): Promise<SummaryRow> {
  const statement = (conditions: (params: Params) => string, select: string, tail = "") => {
    const params = new Params();
    const where = [...scope(keys, params), conditions(params)].join(" AND ");
    return db.prepare(`SELECT ${select} FROM uploads u WHERE ${where} ${tail}`).bind(...params.values);
  };
  const [states, inFlight, oldest, expiring, ended, latency] = await db.batch<Record<string, unknown>>([
    statement(() => "1", "u.state, count(*) AS n", "GROUP BY u.state"),
    statement(
      () => "u.state IN ('open', 'completing')",
      "coalesce(sum((SELECT coalesce(sum(p.size), 0) FROM parts p WHERE p.upload_id = u.upload_id)), 0) AS bytes",
    ),
    statement(
      () => "u.state = 'open'",
      "u.upload_id, u.object_key, u.created_at",
      "ORDER BY u.created_at, u.upload_id LIMIT 1",
    ),
    statement((params) => `u.state = 'open' AND u.expires_at <= ${params.add(expiringBy)}`, "count(*) AS n"),
    ...recentQueries(keys, since).map(({ sql, values }) => db.prepare(sql).bind(...values)),
  ]);
  const byState: Record<UploadState, number> = { open: 0, completing: 0, completed: 0, aborted: 0, failed: 0 };
  for (const row of (states?.results ?? []) as { state: UploadState; n: number }[]) byState[row.state] = row.n;
  const oldestRow = oldest?.results[0] as SummaryRow["oldestOpen"] | undefined;
  return {
    byState,
    bytesInFlight: Number(inFlight?.results[0]?.bytes ?? 0),
    oldestOpen: oldestRow ?? null,
    expiringBy: Number(expiring?.results[0]?.n ?? 0),
    recent: readRecent(ended?.results ?? [], latency?.results ?? []),
  };
}

function readRecent(ended: Record<string, unknown>[], latency: Record<string, unknown>[]): RecentRow {
  const counts: RecentRow["ended"] = { completed: 0, failed: 0, aborted: 0 };
  let bytesCompleted = 0;
  for (const row of ended as { state: keyof RecentRow["ended"]; n: number; bytes: number | null }[]) {
    counts[row.state] = row.n;
    if (row.state === "completed") bytesCompleted = row.bytes ?? 0;
  }
  const ms = latency.map((row) => Number(row.ms)).sort((a, b) => a - b);
  // Nearest rank: the value at rank ceil(q * n).
  const rank = (q: number) => ms[Math.ceil(q * ms.length) - 1] ?? 0;
  return {
    ended: counts,
    bytesCompleted,
    latency: ms.length === 0 ? null : { p50: rank(0.5), p95: rank(0.95), sample: ms.length },
  };
}
