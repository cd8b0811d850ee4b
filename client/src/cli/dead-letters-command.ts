import type { DeadLetter, DeadLetterState } from "../contract.js";
import { DEAD_LETTER_STATES, discardDeadLetter, listDeadLetters, replayDeadLetter } from "../dead-letters.js";
import { EXIT, type Globals, printResult, transportFor, UsageError } from "./context.js";
import { shellWord } from "./format.js";
import { formatAge } from "./list-format.js";

export interface DeadLetterListFlags {
  state: readonly string[];
  limit: string | undefined;
  cursor: string | undefined;
  all: boolean;
}

const MAX_LIMIT = 200;

/** `--state` may repeat and each may be a comma list; checked here so a typo is a usage error. */
function statesOf(flags: readonly string[]): DeadLetterState[] {
  const states = flags.flatMap((text) => text.split(",")).map((text) => text.trim());
  for (const state of states) {
    if (!Object.hasOwn(DEAD_LETTER_STATES, state))
      throw new UsageError(`--state: expected ${Object.keys(DEAD_LETTER_STATES).join(", ")}, not ${state}`);
  }
  return [...new Set(states as DeadLetterState[])];
}

function limitOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const limit = Number(text);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw new UsageError(`--limit: expected a whole number from 1 to ${MAX_LIMIT}, not ${text}`);
  return limit;
}

type Column = { title: string; value: (item: DeadLetter, now: number) => string };
const COLUMNS: Column[] = [
  { title: "ID", value: (item) => item.id },
  { title: "STATE", value: (item) => item.state },
  { title: "TYPE", value: (item) => item.type ?? "-" },
  // The key says most to a person; a message that names no upload has neither.
  { title: "KEY", value: (item) => item.key ?? item.uploadId ?? "-" },
  { title: "SEEN", value: (item) => String(item.attempts) },
  { title: "AGE", value: (item, now) => formatAge(now - Date.parse(item.firstSeenAt)) },
];

/** Tab-separated lines under a header in a pipe (`cut -f1` gives the ids), aligned columns on a terminal. */
export function formatDeadLetters(items: readonly DeadLetter[], now: number, aligned: boolean): string {
  if (aligned && items.length === 0) return "No dead letters match.\n";
  const rows = [
    COLUMNS.map((column) => column.title),
    ...items.map((item) => COLUMNS.map((column) => column.value(item, now).replace(/[\t\n\r]/g, " "))),
  ];
  if (!aligned) return rows.map((row) => `${row.join("\t")}\n`).join("");
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((text, i) => text.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}

/** `ingest dead-letters list`: one page, or with --all every page; JSON as `ingest list` gives it. */
export async function deadLettersListCommand(flags: DeadLetterListFlags, globals: Globals): Promise<number> {
  const query = { state: statesOf(flags.state), limit: limitOf(flags.limit), cursor: flags.cursor };
  const transport = transportFor(globals, process.env);
  let page = await listDeadLetters(transport, query);
  const items = [...page.items];
  while (flags.all && page.nextCursor !== null) {
    page = await listDeadLetters(transport, { ...query, cursor: page.nextCursor });
    items.push(...page.items);
  }
  if (globals.json) {
    printResult(globals, flags.all ? items : page, "");
    return EXIT.ok;
  }
  process.stdout.write(formatDeadLetters(items, Date.now(), process.stdout.isTTY === true));
  if (!flags.all && page.nextCursor !== null) {
    process.stderr.write(
      `More dead letters: add ${shellWord(`--cursor=${page.nextCursor}`)} for the next page, or --all for every page.\n`,
    );
  }
  return EXIT.ok;
}

/** `ingest dead-letters replay <id>...`: each once; one already replayed is reported, not sent again. */
export async function deadLettersReplayCommand(ids: readonly string[], globals: Globals): Promise<number> {
  const transport = transportFor(globals, process.env);
  const results = [];
  const lines = [];
  for (const id of ids) {
    const result = await replayDeadLetter(transport, id);
    results.push(result);
    const what = result.deadLetter.key ?? result.deadLetter.uploadId;
    lines.push(
      result.outcome === "replayed"
        ? `Replayed ${id}${result.deadLetter.type === null ? "" : ` (${result.deadLetter.type}${what === null ? "" : ` ${what}`})`}.`
        : `Already replayed ${id} at ${result.deadLetter.replayedAt ?? "an earlier time"}: not sent again.`,
    );
  }
  printResult(globals, ids.length === 1 ? results[0] : results, lines.join("\n"));
  return EXIT.ok;
}

/** `ingest dead-letters discard <id>...`: sets each aside for good. */
export async function deadLettersDiscardCommand(ids: readonly string[], globals: Globals): Promise<number> {
  const transport = transportFor(globals, process.env);
  const results: DeadLetter[] = [];
  for (const id of ids) results.push(await discardDeadLetter(transport, id));
  printResult(
    globals,
    ids.length === 1 ? results[0] : results,
    results.map((item) => `Discarded ${item.id}.`).join("\n"),
  );
  return EXIT.ok;
}
