// Pure formatting for the tables and the upload page; tested in format.test.ts.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** 1536 -> "1.5 KiB"; binary units, as part sizes are set in MiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits).replace(/\.0+$|(\.\d*?)0+$/, "$1")} ${UNITS[unit]}`;
}

/** A length of time, the two largest units: "3 d 4 h", "12 min", "45 s". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const steps: [number, string][] = [
    [86_400, "d"],
    [3_600, "h"],
    [60, "min"],
    [1, "s"],
  ];
  const parts: string[] = [];
  let rest = seconds;
  for (const [size, name] of steps) {
    const count = Math.floor(rest / size);
    if (count > 0 || (parts.length === 0 && size === 1)) parts.push(`${count} ${name}`);
    rest -= count * size;
    if (parts.length === 2) break;
  }
  // Drop a trailing zero unit ("2 h 0 min" reads as "2 h").
  return parts.filter((part, index) => index === 0 || !part.startsWith("0 ")).join(" ");
}

/** How long ago `time` was, relative to `now`. */
export const formatAge = (time: string, now: number) => formatDuration(now - Date.parse(time));

/** Time left until `expiresAt`: "in 3 h", "overdue", or "—" when nothing expires. */
export function formatExpiry(expiresAt: string | null, now: number): string {
  if (expiresAt === null) return "—";
  const left = Date.parse(expiresAt) - now;
  return left <= 0 ? "overdue" : formatDuration(left);
}

/** A `<input type="datetime-local">` value (local time, no zone) as an ISO 8601 instant, or undefined. */
export function localInputToIso(value: string): string | undefined {
  if (value === "") return undefined;
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** Exact bytes as digits, comparable with what `ls -l` or `wc -c` print. */
export const exactBytes = (bytes: number) => `${bytes} bytes`;
