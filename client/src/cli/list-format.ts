import type { UploadListItem, UploadState, UploadSummary } from "../contract.js";
import { formatBytes } from "./format.js";

/** "45s", "12m", "3h05m", "2d04h": an age or a time left, to the precision a glance needs. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

/** Time left before an open upload is swept; past it (the sweep has not run yet) it is overdue. */
export function formatExpiry(expiresAt: string | null, now: number): string {
  if (expiresAt === null) return "-";
  const left = Date.parse(expiresAt) - now;
  return left >= 0 ? formatAge(left) : `overdue ${formatAge(-left)}`;
}

type Column = { title: string; right?: boolean; value: (item: UploadListItem, now: number) => string };

const COLUMNS: Column[] = [
  { title: "ID", value: (item) => item.uploadId },
  { title: "STATE", value: (item) => item.state },
  { title: "KEY", value: (item) => item.key },
  // A completed upload has its object's size; any other, the bytes of the parts tallied so far.
  { title: "BYTES", right: true, value: (item) => formatBytes(item.size ?? item.bytesReceived) },
  { title: "PARTS", right: true, value: (item) => `${item.receivedParts}/${item.expectedParts ?? "?"}` },
  { title: "AGE", right: true, value: (item, now) => formatAge(now - Date.parse(item.createdAt)) },
  { title: "EXPIRES IN", right: true, value: (item, now) => formatExpiry(item.expiresAt, now) },
];
const KEY = COLUMNS.findIndex((column) => column.title === "KEY");
/** A key is never cut shorter than this, even when the line then wraps. */
const MIN_KEY = 16;

// Keys could hold a tab or a newline, which would shift a row's fields or split it: shown escaped.
const ESCAPES: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };
const cells = (item: UploadListItem, now: number) =>
  COLUMNS.map((column) => column.value(item, now).replace(/[\t\n\r]/g, (char) => ESCAPES[char] ?? char));

/**
 * Tab-separated lines under a header line, for pipes and files: `cut -f1` gives the ids.
 */
export function formatTsv(items: readonly UploadListItem[], now: number): string {
  const rows = items.map((item) => cells(item, now));
  return [COLUMNS.map((column) => column.title), ...rows].map((row) => `${row.join("\t")}\n`).join("");
}

/**
 * Aligned columns for a terminal `width` wide. A line that would wrap gives up the start of its
 * longest keys ("…" in front), since a key's end (the file name) tells keys apart best.
 */
export function formatTable(items: readonly UploadListItem[], now: number, width = Number.POSITIVE_INFINITY): string {
  if (items.length === 0) return "No uploads match.\n";
  const rows = items.map((item) => cells(item, now));
  const widths = COLUMNS.map((column, i) => Math.max(column.title.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1);
  const keyWidth = widths[KEY] ?? 0;
  const fitted = Math.max(MIN_KEY, keyWidth - Math.max(0, line - (width - 1)));
  if (fitted < keyWidth) widths[KEY] = fitted;
  const cell = (text: string, i: number) => {
    const w = widths[i] ?? 0;
    const cut = text.length > w ? `…${text.slice(text.length - w + 1)}` : text;
    return COLUMNS[i]?.right === true ? cut.padStart(w) : cut.padEnd(w);
  };
  const header = COLUMNS.map((column, i) => cell(column.title, i));
  return [header, ...rows.map((row) => row.map(cell))].map((fields) => `${fields.join("  ").trimEnd()}\n`).join("");
}

const ORDER: UploadState[] = ["open", "completing", "completed", "aborted", "failed"];

export function formatSummary(summary: UploadSummary, now: number): string {
  const width = Math.max(...ORDER.map((state) => String(summary.byState[state] ?? 0).length));
  const lines = ORDER.map((state) => `${state.padEnd(12)}${String(summary.byState[state] ?? 0).padStart(width)}`);
  const oldest = summary.oldestOpen;
  lines.push(
    "",
    `In flight   ${formatBytes(summary.bytesInFlight)} in parts of open and completing uploads`,
    `Expiring    ${summary.expiringWithinHour} open upload${summary.expiringWithinHour === 1 ? "" : "s"} within the hour`,
    oldest === null
      ? "Oldest open none"
      : `Oldest open ${oldest.uploadId} ${oldest.key} (${formatAge(now - Date.parse(oldest.createdAt))} old)`,
  );
  // Servers from before issue 14 send no `recent`.
  const recent = (summary as Partial<UploadSummary>).recent;
  if (recent !== undefined) {
    const latency = recent.completionLatencyMs;
    lines.push(
      `Last 24 h   ${recent.completed} completed (${formatBytes(recent.bytesCompleted)}), ${recent.failed} failed, ${recent.aborted} aborted`,
      latency === null
        ? "Latency     no completions"
        : `Latency     last part -> completed p50 ${latency.p50} ms, p95 ${latency.p95} ms (newest ${latency.sample})`,
    );
  }
  return `${lines.join("\n")}\n`;
}
