/**
 * The Workers under test log one JSON object per line (`{"event":"sweep",...}`). In a test run
 * those lines are either routine (console.log/info/debug: completions, sweeps) or warnings and
 * errors. This module routes them, per test:
 * - events a test names in `captureLogs([...])` are kept for the test to assert on, not printed;
 * - routine events are held back and printed only if the test fails, as context;
 * - everything else (an unexpected warning or error, any plain-text line) prints as usual.
 * setup.ts installs the router once per test file and starts a fresh test with `resetLogs()`.
 */

const LEVELS = ["debug", "info", "log", "warn", "error"] as const;
type Level = (typeof LEVELS)[number];
const ROUTINE = new Set<Level>(["debug", "info", "log"]);

/** One event line a Worker under test logged, with the console method it used. */
export type LoggedEvent = Record<string, unknown> & { level: Level; event: string };

/** The log events a test said it expects, captured instead of printed. */
export class CapturedLogs {
  readonly events: LoggedEvent[] = [];

  /** The captured events of one name, in the order they were logged. */
  named(event: string): LoggedEvent[] {
    return this.events.filter((entry) => entry.event === event);
  }

  count(event: string): number {
    return this.named(event).length;
  }

  /** How many of each event, e.g. for an assertion's message. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { event } of this.events) counts[event] = (counts[event] ?? 0) + 1;
    return counts;
  }
}

type TestLogs = { expected: Set<string>; captured: CapturedLogs; held: { level: Level; args: unknown[] }[] };

let current: TestLogs | null = null;
const original = new Map<Level, (...args: unknown[]) => void>();

/** Puts the router in front of the console; idempotent. */
export function installLogRouter(): void {
  if (original.size > 0) return;
  for (const level of LEVELS) {
    const print = console[level].bind(console);
    original.set(level, print);
    console[level] = (...args: unknown[]) => {
      const entry = current === null || args.length !== 1 ? null : eventOf(args[0]);
      if (current === null || entry === null) return print(...args);
      if (current.expected.has(entry.event)) current.captured.events.push({ ...entry, level, event: entry.event });
      else if (ROUTINE.has(level)) current.held.push({ level, args });
      else print(...args);
    };
  }
}

/** Starts a test with nothing expected and nothing held. */
export function resetLogs(): void {
  current = { expected: new Set(), captured: new CapturedLogs(), held: [] };
}

/** Prints the routine events the current test held back (called when it fails). */
export function printHeldLogs(): void {
  for (const { level, args } of current?.held ?? []) original.get(level)?.(...args);
  if (current !== null) current.held = [];
}

/**
 * Captures, for the rest of the current test, the events named in `expected`, so the test can
 * assert on them rather than print them. Events not named still print if they are warnings or
 * errors: an unexpected one shows. Calls within one test add up and share one CapturedLogs.
 */
export function captureLogs(expected: readonly string[]): CapturedLogs {
  if (current === null) throw new Error("captureLogs() runs inside a test (setup.ts resets it before each)");
  for (const event of expected) current.expected.add(event);
  return current.captured;
}

function eventOf(arg: unknown): (Record<string, unknown> & { event: string }) | null {
  if (typeof arg !== "string" || !arg.startsWith('{"event":')) return null;
  try {
    const parsed: unknown = JSON.parse(arg);
    if (typeof parsed !== "object" || parsed === null || !("event" in parsed)) return null;
    const { event } = parsed;
    return typeof event === "string" ? { ...parsed, event } : null;
  } catch {
    return null;
  }
}
