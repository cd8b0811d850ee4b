import { parseArgs } from "node:util";
import { EXIT, type Globals, printError, UsageError } from "./context.js";
import { HELP } from "./help.js";
import { shieldIds } from "./ids.js";

// Each command's module is loaded when that command runs: an `ingest upload` then loads only what
// uploading needs, which is most of what a short upload's run spends before its first request.
const commands = () => import("./commands.js");
const deadLetterCommands = () => import("./dead-letters-command.js");
const listCommands = () => import("./list-command.js");

const OPTIONS = {
  endpoint: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  key: { type: "string" },
  "part-size": { type: "string" },
  concurrency: { type: "string" },
  wait: { type: "boolean", default: false },
  resume: { type: "string" },
  // A state file for upload; for list, a state to show (repeatable).
  state: { type: "string", multiple: true },
  "content-type": { type: "string" },
  retries: { type: "string" },
  prefix: { type: "string" },
  api: { type: "string" },
  "created-after": { type: "string" },
  "stale-before": { type: "string" },
  order: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  all: { type: "boolean", default: false },
} as const;

/** The commands each command-specific flag applies to; the other flags apply to all. */
const ONLY: Partial<Record<keyof typeof OPTIONS, readonly string[]>> = {
  key: ["upload"],
  "part-size": ["upload"],
  concurrency: ["upload"],
  wait: ["upload"],
  resume: ["upload"],
  state: ["upload", "list", "dead-letters"],
  "content-type": ["upload"],
  retries: ["upload"],
  prefix: ["list"],
  api: ["list"],
  "created-after": ["list"],
  "stale-before": ["list"],
  order: ["list"],
  limit: ["list", "dead-letters"],
  cursor: ["list", "dead-letters"],
  all: ["list", "dead-letters"],
};

export async function main(argv: string[]): Promise<number> {
  let globals: Globals = { endpoint: undefined, token: undefined, json: argv.includes("--json") };
  try {
    const { args, restore } = shieldIds(argv);
    const parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    const positionals = parsed.positionals.map(restore);
    const values = {
      ...parsed.values,
      resume: parsed.values.resume === undefined ? undefined : restore(parsed.values.resume),
      cursor: parsed.values.cursor === undefined ? undefined : restore(parsed.values.cursor),
    };
    globals = { endpoint: values.endpoint, token: values.token, json: values.json };
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === "help") {
      process.stdout.write(HELP);
      return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
    }
    for (const [name, commands] of Object.entries(ONLY)) {
      const value = values[name as keyof typeof values];
      if (value !== undefined && value !== false && !commands.includes(command))
        throw new UsageError(`--${name} only applies to ${commands.join(", ").replace(/, (?=[^,]*$)/, " and ")}`);
    }
    const arity = (min: number, max: number, usage: string) => {
      if (rest.length < min || rest.length > max) throw new UsageError(`usage: ingest ${command} ${usage}`);
    };
    switch (command) {
      case "upload":
        arity(1, 1, "<file|-> [options]");
        return await (await import("./upload-command.js")).uploadCommand(
          {
            source: rest[0] as string,
            key: values.key,
            partSize: values["part-size"],
            concurrency: values.concurrency,
            wait: values.wait,
            resume: values.resume,
            state: single("--state", values.state),
            contentType: values["content-type"],
            retries: values.retries,
          },
          globals,
        );
      case "status":
        arity(1, 1, "<uploadId>");
        return await (await commands()).statusCommand(rest[0] as string, globals);
      case "abort":
        arity(1, 1, "<uploadId>");
        return await (await commands()).abortCommand(rest[0] as string, globals);
      case "download":
        arity(1, 2, "<key> [file|-]");
        return await (await commands()).downloadCommand(rest[0] as string, rest[1], globals);
      case "list":
        arity(0, 0, "[--state S]... [--prefix P] [--api A] [--order O] [--limit N] [--cursor C] [--all] [--json]");
        return await (await listCommands()).listCommand(
          {
            state: values.state ?? [],
            prefix: values.prefix,
            api: values.api,
            createdAfter: values["created-after"],
            staleBefore: values["stale-before"],
            order: values.order,
            limit: values.limit,
            cursor: values.cursor,
            all: values.all,
          },
          globals,
        );
      case "summary":
        arity(0, 0, "[--json]");
        return await (await listCommands()).summaryCommand(globals);
      case "dead-letters":
        return await deadLetters(rest, values, globals);
      default:
        throw new UsageError(`unknown command "${command}"; see ingest --help`);
    }
  } catch (error) {
    // parseArgs reports unknown or malformed flags as TypeErrors carrying an ERR_PARSE_ARGS code.
    const usage =
      error instanceof UsageError ||
      (error instanceof TypeError && String((error as { code?: unknown }).code).startsWith("ERR_PARSE_ARGS"));
    printError(globals, usage ? new UsageError(error instanceof Error ? error.message : String(error)) : error);
    return usage ? EXIT.usage : EXIT.failed;
  }
}

const DEAD_LETTERS_USAGE =
  "usage: ingest dead-letters list [--state S]... [--limit N] [--cursor C] [--all] | replay <id>... | discard <id>...";

/** `ingest dead-letters <list|replay|discard>`: the subcommand decides which flags and words it takes. */
async function deadLetters(
  words: string[],
  values: { state?: string[]; limit?: string; cursor?: string; all: boolean },
  globals: Globals,
): Promise<number> {
  const [action, ...ids] = words;
  if (action === "list") {
    if (ids.length > 0) throw new UsageError(DEAD_LETTERS_USAGE);
    return (await deadLetterCommands()).deadLettersListCommand(
      { state: values.state ?? [], limit: values.limit, cursor: values.cursor, all: values.all },
      globals,
    );
  }
  if (action !== "replay" && action !== "discard") throw new UsageError(DEAD_LETTERS_USAGE);
  if (ids.length === 0) throw new UsageError(DEAD_LETTERS_USAGE);
  for (const [flag, value] of Object.entries({ state: values.state, limit: values.limit, cursor: values.cursor })) {
    if (value !== undefined) throw new UsageError(`--${flag} only applies to dead-letters list`);
  }
  if (values.all) throw new UsageError("--all only applies to dead-letters list");
  const { deadLettersReplayCommand, deadLettersDiscardCommand } = await deadLetterCommands();
  return action === "replay" ? deadLettersReplayCommand(ids, globals) : deadLettersDiscardCommand(ids, globals);
}

/** A flag that may repeat for one command (--state for list) but means one thing for another. */
function single(flag: string, values: string[] | undefined): string | undefined {
  if (values !== undefined && values.length > 1) throw new UsageError(`${flag}: give it once`);
  return values?.[0];
}
