import { parseArgs } from "node:util";
import { abortCommand, downloadCommand, statusCommand } from "./commands.js";
import { EXIT, type Globals, printError, UsageError } from "./context.js";
import { HELP } from "./help.js";
import { shieldIds } from "./ids.js";
import { uploadCommand } from "./upload-command.js";

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
  state: { type: "string" },
  "content-type": { type: "string" },
  retries: { type: "string" },
} as const;

const UPLOAD_ONLY = ["key", "part-size", "concurrency", "wait", "resume", "state", "content-type", "retries"] as const;

export async function main(argv: string[]): Promise<number> {
  let globals: Globals = { endpoint: undefined, token: undefined, json: argv.includes("--json") };
  try {
    const { args, restore } = shieldIds(argv);
    const parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    const positionals = parsed.positionals.map(restore);
    const values = {
      ...parsed.values,
      resume: parsed.values.resume === undefined ? undefined : restore(parsed.values.resume),
    };
    globals = { endpoint: values.endpoint, token: values.token, json: values.json };
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === "help") {
      process.stdout.write(HELP);
      return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
    }
    if (command !== "upload") {
      const misplaced = UPLOAD_ONLY.find((name) => values[name] !== undefined && values[name] !== false);
      if (misplaced !== undefined) throw new UsageError(`--${misplaced} only applies to upload`);
    }
    const arity = (min: number, max: number, usage: string) => {
      if (rest.length < min || rest.length > max) throw new UsageError(`usage: ingest ${command} ${usage}`);
    };
    switch (command) {
      case "upload":
        arity(1, 1, "<file|-> [options]");
        return await uploadCommand(
          {
            source: rest[0] as string,
            key: values.key,
            partSize: values["part-size"],
            concurrency: values.concurrency,
            wait: values.wait,
            resume: values.resume,
            state: values.state,
            contentType: values["content-type"],
            retries: values.retries,
          },
          globals,
        );
      case "status":
        arity(1, 1, "<uploadId>");
        return await statusCommand(rest[0] as string, globals);
      case "abort":
        arity(1, 1, "<uploadId>");
        return await abortCommand(rest[0] as string, globals);
      case "download":
        arity(1, 2, "<key> [file|-]");
        return await downloadCommand(rest[0] as string, rest[1], globals);
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
