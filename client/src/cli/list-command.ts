import { UPLOAD_STATES } from "../api.js";
import type { ListOrder, ListUploadsQuery, UploadApi, UploadListItem } from "../contract.js";
import { getUploadSummary, listUploads } from "../listing.js";
import { EXIT, type Globals, printResult, transportFor, UsageError } from "./context.js";
import { shellWord } from "./format.js";
import { formatSummary, formatTable, formatTsv } from "./list-format.js";

export interface ListFlags {
  state: readonly string[];
  prefix: string | undefined;
  api: string | undefined;
  createdAfter: string | undefined;
  staleBefore: string | undefined;
  order: string | undefined;
  limit: string | undefined;
  cursor: string | undefined;
  all: boolean;
}

// Objects rather than arrays so that a value added to the contract's unions fails to compile here.
const APIS: Record<UploadApi, true> = { native: true, compat: true, tus: true, stream: true };
const ORDERS: Record<ListOrder, true> = { newest: true, oldest: true, expiring: true };
const MAX_LIMIT = 200;

function oneOf<T extends string>(flag: string, text: string, allowed: Record<T, true>): T {
  if (!Object.hasOwn(allowed, text))
    throw new UsageError(`${flag}: expected ${Object.keys(allowed).join(", ")}, not ${text}`);
  return text as T;
}

/** An ISO 8601 time, or "now"; checked here so that a typo is a usage error, not a server's 400. */
function timeFlag(flag: string, text: string | undefined, now: number): string | undefined {
  if (text === undefined) return undefined;
  if (text === "now") return new Date(now).toISOString();
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`${flag}: expected an ISO 8601 time (2026-01-31T12:00:00Z) or "now", not ${text}`);
  return new Date(ms).toISOString();
}

/** The flags as a query; `--state` may repeat and each may be a comma list, as the server takes them. */
export function listQueryOf(flags: ListFlags, now = Date.now()): ListUploadsQuery {
  const states = flags.state
    .flatMap((text) => text.split(","))
    .map((text) => oneOf("--state", text.trim(), UPLOAD_STATES));
  let limit: number | undefined;
  if (flags.limit !== undefined) {
    limit = Number(flags.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
      throw new UsageError(`--limit: expected a whole number from 1 to ${MAX_LIMIT}, not ${flags.limit}`);
  }
  return {
    state: states.length === 0 ? undefined : [...new Set(states)],
    prefix: flags.prefix,
    api: flags.api === undefined ? undefined : oneOf("--api", flags.api, APIS),
    createdAfter: timeFlag("--created-after", flags.createdAfter, now),
    staleBefore: timeFlag("--stale-before", flags.staleBefore, now),
    order: flags.order === undefined ? undefined : oneOf("--order", flags.order, ORDERS),
    limit,
    cursor: flags.cursor,
  };
}

/**
 * One page (or with --all every page, following nextCursor) as a table on a terminal,
 * tab-separated lines otherwise, or JSON: the page as the server sent it, or with --all one
 * array of every page's items.
 */
export async function listCommand(flags: ListFlags, globals: Globals): Promise<number> {
  const query = listQueryOf(flags);
  const transport = transportFor(globals, process.env);
  const items: UploadListItem[] = [];
  let page = await listUploads(transport, query);
  items.push(...page.items);
  while (flags.all && page.nextCursor !== null) {
    page = await listUploads(transport, { ...query, cursor: page.nextCursor });
    items.push(...page.items);
  }
  if (globals.json) {
    printResult(globals, flags.all ? items : page, "");
    return EXIT.ok;
  }
  const now = Date.now();
  const tty = process.stdout.isTTY === true;
  // A pseudo-terminal without a size reports 0 columns.
  process.stdout.write(tty ? formatTable(items, now, process.stdout.columns || 80) : formatTsv(items, now));
  // On stderr, so that a pipe reading the rows never takes it for one.
  if (!flags.all && page.nextCursor !== null) {
    process.stderr.write(
      `More uploads: add ${shellWord(`--cursor=${page.nextCursor}`)} for the next page, or --all for every page.\n`,
    );
  }
  return EXIT.ok;
}

export async function summaryCommand(globals: Globals): Promise<number> {
  const summary = await getUploadSummary(transportFor(globals, process.env));
  printResult(globals, summary, formatSummary(summary, Date.now()).trimEnd());
  return EXIT.ok;
}
