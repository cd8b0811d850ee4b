import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const clientDir = new URL("../../client/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("package.json", clientDir), "utf8")) as { bin: { ingest: string } };

/** The CLI runs as users run it: the package's `bin`, compiled to client/dist (by the global setup). */
export const CLI = fileURLToPath(new URL(manifest.bin.ingest, clientDir));

export type CliRun = { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string };

export function startCli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; input?: Uint8Array; keepStdinOpen?: boolean },
) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("INGEST_")));
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...env, ...options.env },
    stdio: "pipe",
  });
  const stdout: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.keepStdinOpen === true) child.stdin.write(options.input ?? new Uint8Array(0));
  else child.stdin.end(options.input);
  const result = new Promise<CliRun>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout: Buffer.concat(stdout), stderr }));
  });
  return { child, result, stderr: () => stderr };
}

export const runCli = (args: string[], options: Parameters<typeof startCli>[1]) => startCli(args, options).result;

export const json = (run: CliRun) => JSON.parse(run.stdout.toString()) as Record<string, unknown>;
