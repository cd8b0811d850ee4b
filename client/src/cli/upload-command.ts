import { existsSync } from "node:fs";
import { basename, relative, resolve } from "node:path";
import { IngestError } from "../errors.js";
import { openFile } from "../node/file.js";
import { readStateFile, type StateFile, StateWriter } from "../node/state.js";
import { parseRanges } from "../parts.js";
import type { UploadSource } from "../sources.js";
import type { ResumeState } from "../types.js";
import { type UploadOptions, type UploadResult, upload } from "../upload.js";
import { EXIT, type Globals, printError, printResult, resolveEndpoint, resolveToken, UsageError } from "./context.js";
import { formatBytes, formatDuration, formatRate, parseSize, shellWord } from "./format.js";
import { ProgressView } from "./progress-view.js";

export interface UploadFlags {
  source: string;
  key: string | undefined;
  partSize: string | undefined;
  concurrency: string | undefined;
  wait: boolean;
  resume: string | undefined;
  state: string | undefined;
  contentType: string | undefined;
  retries: string | undefined;
}

type Plan = {
  source: UploadSource;
  file: { path: string; size: number; mtimeMs: number } | null;
  statePath: string;
  endpoint: string;
  options: UploadOptions;
};

export async function uploadCommand(flags: UploadFlags, globals: Globals): Promise<number> {
  const plan = await preparePlan(flags, globals);
  const view = globals.json
    ? undefined
    : new ProgressView(process.stderr, plan.file === null ? "stdin" : basename(plan.file.path));
  const writer = new StateWriter(plan.statePath);
  const save = (state: ResumeState) =>
    writer.save({
      version: 1,
      endpoint: plan.endpoint,
      file: plan.file?.path ?? null,
      fileSize: plan.file?.size ?? null,
      mtimeMs: plan.file?.mtimeMs ?? null,
      upload: state,
    });

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // A second Ctrl-C means "now": the state file already holds every acknowledged part.
    if (++interrupts > 1) process.exit(EXIT.interrupted);
    controller.abort(new Error("Ctrl-C"));
  };
  process.on("SIGINT", onSigint);
  try {
    const result = await upload(plan.source, {
      ...plan.options,
      signal: controller.signal,
      onCheckpoint: save,
      onProgress: view === undefined ? undefined : (progress) => view.update(progress),
      onRetry: view === undefined ? undefined : (event) => view.retry(event),
    });
    view?.clear();
    await writer.remove();
    printSummary(globals, result, plan);
    return EXIT.ok;
  } catch (error) {
    view?.clear();
    // An interrupted read of stdin would otherwise keep the process waiting for input.
    if (plan.file === null) process.stdin.destroy();
    return await reportFailure(error, globals, plan, writer, save);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

async function preparePlan(flags: UploadFlags, globals: Globals): Promise<Plan> {
  // Flags first: a typo should say so, not fail on the file.
  const partSize = sizeFlag(flags.partSize);
  const concurrency = integerFlag("--concurrency", flags.concurrency, 1);
  const retries = integerFlag("--retries", flags.retries, 0);
  const stdin = flags.source === "-";
  let saved: StateFile | undefined;
  let resume: string | ResumeState | undefined;
  if (flags.resume !== undefined) {
    // A path that exists is a state file; anything else is taken for an upload id.
    if (existsSync(flags.resume)) {
      saved = await readStateFile(flags.resume);
      resume = saved.upload;
    } else {
      resume = flags.resume;
    }
  }
  const file = stdin ? null : await openFile(flags.source);
  if (file !== null && saved?.mtimeMs != null && (saved.fileSize !== file.size || saved.mtimeMs !== file.mtimeMs)) {
    throw new IngestError("source_mismatch", `${flags.source} changed since the upload started; it cannot be resumed`);
  }
  const key = flags.key ?? saved?.upload.key ?? (stdin ? undefined : basename(flags.source));
  if (key === undefined && resume === undefined) throw new UsageError("--key is required when uploading stdin");
  const endpoint = resolveEndpoint(globals, process.env, saved?.endpoint);
  const token = resolveToken(globals, process.env);
  const statePath = resolve(
    flags.state ??
      (saved === undefined ? undefined : flags.resume) ??
      (stdin ? `${safeName(key ?? "stdin")}.ingest.json` : `${flags.source}.ingest.json`),
  );
  if (resume === undefined && existsSync(statePath)) {
    process.stderr.write(
      `ingest: note: replacing ${statePath} of an earlier interrupted upload; that upload stays open until the server sweeps it\n`,
    );
  }
  const options: UploadOptions = {
    endpoint,
    key,
    partSize,
    concurrency,
    wait: flags.wait,
    resume,
  };
  if (token !== undefined) options.credentials = { token };
  if (flags.contentType !== undefined) options.contentType = flags.contentType;
  if (retries !== undefined) options.retry = { retries };
  return {
    source: file?.blob ?? (process.stdin as AsyncIterable<Uint8Array>),
    file: file === null ? null : { path: resolve(flags.source), size: file.size, mtimeMs: file.mtimeMs },
    statePath,
    endpoint,
    options,
  };
}

const safeName = (key: string) => key.replace(/[^\w.-]+/g, "_").slice(-100);

function sizeFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const size = parseSize(text);
  if (size === undefined || size <= 0) throw new UsageError(`--part-size: not a size: ${text}`);
  return size;
}

function integerFlag(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new UsageError(`${name}: expected a whole number >= ${min}, not ${text}`);
  return value;
}

function printSummary(globals: Globals, result: UploadResult, plan: Plan): void {
  const seconds = result.transferMs / 1000;
  const rate = seconds > 0 ? result.bytesSent / seconds : 0;
  const name = plan.file === null ? "stdin" : relative(process.cwd(), plan.file.path);
  const done =
    result.state === "completed"
      ? `completed${result.status?.object ? ` (etag ${result.status.object.etag})` : ""}.`
      : `every part is in; the server completes it by itself (check: ingest status ${result.uploadId}).`;
  const text = [
    `Uploaded ${name} to ${result.key}: ${formatBytes(result.size)} in ${result.parts} part${result.parts === 1 ? "" : "s"}` +
      `${result.partsSkipped > 0 ? ` (${result.partsSkipped} already there)` : ""}, ${formatDuration(seconds)}, ${formatRate(rate)}.`,
    `Upload ${result.uploadId}: ${done}`,
  ].join("\n");
  const { status, ...rest } = result;
  printResult(globals, { ...rest, bytesPerSecond: Math.round(rate), object: status?.object ?? null }, text);
}

async function reportFailure(
  error: unknown,
  globals: Globals,
  plan: Plan,
  writer: StateWriter,
  save: (state: ResumeState) => void,
): Promise<number> {
  const state = error instanceof IngestError ? error.resumeState : undefined;
  const interrupted = error instanceof IngestError && error.code === "aborted";
  const finished =
    error instanceof IngestError && ["upload_aborted", "upload_failed", "source_mismatch"].includes(error.code);
  if (state === undefined || finished) {
    if (finished) await writer.remove();
    printError(globals, error);
    return interrupted ? EXIT.interrupted : EXIT.failed;
  }
  save(state);
  const writeError = await writer.flush();
  const resumeFrom =
    writeError === undefined ? relative(process.cwd(), plan.statePath) || plan.statePath : state.uploadId;
  const source = plan.file === null ? "-" : relative(process.cwd(), plan.file.path);
  const command = [...selfCommand(), "upload", source, "--resume", resumeFrom]
    .concat(writeError === undefined ? [] : ["--key", state.key, "--endpoint", plan.endpoint])
    .map(shellWord)
    .join(" ");
  const acknowledged = `${parseRanges(state.acknowledged).length} of ${state.parts ?? "?"} parts are in`;
  const hint = [
    `${acknowledged}. Resume with:`,
    `  ${plan.file === null ? "<same data> | " : ""}${command}`,
    ...(resolveToken(globals, process.env) === undefined ? [] : ["(pass the same --token or INGEST_TOKEN)"]),
    ...(writeError === undefined ? [] : [`(the state file could not be written: ${writeError.message})`]),
  ].join("\n");
  printError(
    globals,
    error,
    { uploadId: state.uploadId, resume: { stateFile: writeError === undefined ? plan.statePath : null, command } },
    hint,
  );
  return interrupted ? EXIT.interrupted : EXIT.failed;
}

/** How this CLI was started (npx, an installed bin, or node and a path), so the printed command works when pasted. */
function selfCommand(): string[] {
  const script = process.argv[1] ?? "ingest";
  if (basename(script) !== "ingest") return ["node", relative(process.cwd(), script) || script];
  return process.env.npm_command === "exec" ? ["npx", "ingest"] : ["ingest"];
}
