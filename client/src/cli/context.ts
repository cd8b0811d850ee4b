import { IngestError } from "../errors.js";
import { createTransport, type Transport } from "../http.js";
import { DEFAULT_RETRY } from "../retry.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8787";

/** Exit codes, as `--help` documents them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Globals {
  endpoint: string | undefined;
  token: string | undefined;
  json: boolean;
}

/** Flags beat environment variables; a resumed upload's saved endpoint comes next. */
export function resolveEndpoint(globals: Globals, env: NodeJS.ProcessEnv, saved?: string): string {
  const endpoint = globals.endpoint ?? nonEmpty(env.INGEST_ENDPOINT) ?? saved ?? DEFAULT_ENDPOINT;
  try {
    new URL(endpoint);
  } catch {
    throw new UsageError(`not a URL: ${endpoint}`);
  }
  return endpoint;
}

export const resolveToken = (globals: Globals, env: NodeJS.ProcessEnv) => globals.token ?? nonEmpty(env.INGEST_TOKEN);

const nonEmpty = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);

/** A 401 without any credential given is most likely a missing INGEST_TOKEN: say so. */
function authHint(error: unknown, globals: Globals): string | undefined {
  if (!(error instanceof IngestError) || error.status !== 401 || resolveToken(globals, process.env) !== undefined)
    return undefined;
  return "(this server wants an API key: pass --token or set INGEST_TOKEN)";
}

export function transportFor(globals: Globals, env: NodeJS.ProcessEnv, signal?: AbortSignal): Transport {
  const token = resolveToken(globals, env);
  return createTransport(
    { endpoint: resolveEndpoint(globals, env), credentials: token === undefined ? undefined : { token }, signal },
    DEFAULT_RETRY,
  );
}

/** Prints a command's result: one JSON document for scripts, or text for people. */
export function printResult(globals: Globals, json: unknown, text: string): void {
  process.stdout.write(globals.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

export function printError(
  globals: Globals,
  error: unknown,
  extra: Record<string, unknown> = {},
  hint = authHint(error, globals),
): void {
  const code = error instanceof IngestError ? error.code : error instanceof UsageError ? "usage" : "internal_error";
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof IngestError ? error.status : undefined;
  if (globals.json) {
    process.stdout.write(
      `${JSON.stringify({ error: { code, message, ...(status === undefined ? {} : { status }) }, ...extra }, null, 2)}\n`,
    );
    return;
  }
  process.stderr.write(`ingest: ${message}\n${hint === undefined ? "" : `${hint}\n`}`);
}
