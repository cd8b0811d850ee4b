// Runs every ```sh / ```bash / ```shell block of README.md and docs/*.md, in order, in one bash
// session with `set -euo pipefail` against a fresh `npm run dev`, and fails on the first error.
//
//   npm run docs:check                       # all of them
//   node scripts/check-docs.mjs docs/api.md  # only these files (each doc sets up its own shell)
//
// A block that must not run (it deploys, takes minutes, needs a second terminal) has
// `<!-- docs-check: skip: why -->` on the line above it. The blocks run in a temporary copy of
// the repository (node_modules linked), so what the examples create, and the dev server's local
// state, stay out of the working tree, as in a fresh clone.
//
// Environment: PORT (default 8787) for the dev server, with 127.0.0.1:8787 in the blocks pointed
// at it; DOCS_CHECK_BLOCK_TIMEOUT (seconds per block, default 120); DOCS_CHECK_VERBOSE=1 prints
// every block's output; DOCS_CHECK_KEEP=1 keeps the copy.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const port = Number(process.env.PORT ?? 8787);
const base = `http://127.0.0.1:${port}`;
const blockTimeoutMs = Number(process.env.DOCS_CHECK_BLOCK_TIMEOUT ?? 120) * 1000;
const verbose = process.env.DOCS_CHECK_VERBOSE === "1";
const SHELLS = new Set(["sh", "bash", "shell"]);
const MARK = "@@docs-check@@";
const log = (line) => console.log(`docs-check: ${line}`);

class DocsError extends Error {}

/** The fenced shell blocks of one Markdown file, with the skip marker (if any) above each. */
function extractBlocks(file, text) {
  const lines = text.split("\n");
  const blocks = [];
  let pendingMarker = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const marker = /^\s*<!--\s*docs-check:(.*?)-->\s*$/.exec(line);
    if (marker) {
      const skip = /^\s*skip\s*[:\-—]\s*(\S.*?)\s*$/.exec(marker[1]);
      if (!skip) throw new DocsError(`${file}:${i + 1}: write the marker as <!-- docs-check: skip: <why> -->`);
      pendingMarker = { line: i + 1, reason: skip[1] };
      continue;
    }
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)/.exec(line);
    if (!open) {
      if (pendingMarker && line.trim() !== "") {
        throw new DocsError(`${file}:${pendingMarker.line}: a docs-check marker must be right above a code block`);
      }
      continue;
    }
    const [, indent, fence, lang] = open;
    const body = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j].trim().startsWith(fence) && lines[j].trim().replace(/[`~]/g, "") === "")) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
      j++;
    }
    if (j >= lines.length) throw new DocsError(`${file}:${i + 1}: code block never closed`);
    if (SHELLS.has(lang.toLowerCase())) {
      blocks.push({ file, line: i + 1, code: body.join("\n"), skip: pendingMarker?.reason ?? null });
    } else if (pendingMarker) {
      throw new DocsError(
        `${file}:${pendingMarker.line}: the marker is above a ${lang || "plain"} block, which never runs`,
      );
    }
    pendingMarker = null;
    i = j;
  }
  if (pendingMarker) throw new DocsError(`${file}:${pendingMarker.line}: a docs-check marker with no block after it`);
  return blocks;
}

/**
 * Installing and starting the dev server are the checker's job. A block made only of those
 * commands counts as done; one that mixes them with other commands cannot run here.
 */
function providedByChecker(block) {
  const lines = block.code.split("\n").map((line) => line.replace(/(^|\s)#.*$/, ""));
  const commands = lines.flatMap((line) => line.split(/&&|;/)).map((command) => command.trim());
  const provided = (command) => /^npm\s+(install|i|ci|run\s+dev)(\s|$)/.test(command);
  if (commands.some(provided) && commands.every((command) => command === "" || provided(command))) return true;
  if (commands.some(provided)) {
    throw new DocsError(
      `${block.file}:${block.line}: this block installs or starts the dev server among other commands; ` +
        "the checker does both itself: split it, or mark it <!-- docs-check: skip: why -->",
    );
  }
  return false;
}

function docFiles(args) {
  if (args.length > 0) return args.map((file) => relative(root, resolve(file)));
  const docs = existsSync(join(root, "docs")) ? readdirSync(join(root, "docs")).sort() : [];
  return ["README.md", ...docs.filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];
}

/** A copy of the working tree like a fresh clone after `npm install`: node_modules are links. */
async function copyRepository(target) {
  const linked = [];
  await cp(root, target, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => {
      const name = basename(source);
      if (name === "node_modules") {
        linked.push(relative(root, source));
        return false;
      }
      return name !== ".git" && name !== ".wrangler";
    },
  });
  for (const path of linked) await symlink(join(root, path), join(target, path));
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

async function answers(url) {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

/** Kills a process group started with `detached: true` (setsid), politely first. */
async function killGroup(child) {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {}
  };
  signal("SIGTERM");
  for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(100);
  // wrangler's workerd and esbuild children may outlive npm: the whole group goes.
  signal("SIGKILL");
}

function tail(text, lines) {
  const all = text.trimEnd().split("\n");
  return (all.length > lines ? [`… (${all.length - lines} lines above)`] : []).concat(all.slice(-lines)).join("\n");
}

/** The blocks to run, after logging the ones that are skipped and why. */
function runnableBlocks(files) {
  const blocks = files.flatMap((file) => extractBlocks(file, readFileSync(join(root, file), "utf8")));
  const runnable = [];
  for (const block of blocks) {
    const where = `${block.file}:${block.line}`;
    if (block.skip !== null) log(`skip ${where}: ${block.skip}`);
    else if (providedByChecker(block)) log(`skip ${where}: provided by the checker (npm install / npm run dev)`);
    else runnable.push(block);
  }
  if (runnable.length === 0) throw new DocsError(`no shell block to run in ${files.join(", ")}`);
  return runnable;
}

/** `npm run dev` in its own process group (detached: the child calls setsid), once it answers. */
async function startDev(repo, env, devLog) {
  const out = openSync(devLog, "w");
  const dev = spawn("npm", ["run", "dev", "--", "--port", String(port)], {
    cwd: repo,
    env,
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  const started = Date.now();
  while (!(await answers(`${base}/openapi.json`))) {
    const why = dev.exitCode !== null ? `exited with ${dev.exitCode}` : "did not answer within 120 s";
    if (dev.exitCode !== null || Date.now() - started > 120_000) {
      await killGroup(dev);
      throw new DocsError(`npm run dev ${why}:\n${tail(readFileSync(devLog, "utf8"), 40)}`);
    }
    await sleep(250);
  }
  log(`npm run dev answers on ${base} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dev;
}

/** Runs the blocks in one bash session; follows the markers to time each block and stop one that hangs. */
async function runShell(repo, env, runnable, shellLog, onStart) {
  const script = ["set -euo pipefail", `trap 'echo "${MARK} failed: status $? at: $BASH_COMMAND" >&2' ERR`];
  runnable.forEach((block, index) => {
    const code =
      port === 8787 ? block.code : block.code.replace(/\b(127\.0\.0\.1|localhost):8787\b/g, `127.0.0.1:${port}`);
    script.push(`printf '%s\\n' '${MARK} block ${index}'`, code);
  });
  script.push(`printf '%s\\n' '${MARK} done'`);
  const out = openSync(shellLog, "w");
  const shell = spawn("bash", ["-c", script.join("\n")], {
    cwd: repo,
    env,
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  onStart(shell);
  const exited = new Promise((done) => shell.once("exit", (code, signal) => done(code ?? signal)));
  let current = -1;
  let since = Date.now();
  let timedOut = false;
  const times = [];
  for (;;) {
    const status = await Promise.race([exited, sleep(250).then(() => undefined)]);
    const seen = [...readFileSync(shellLog, "utf8").matchAll(new RegExp(`^${MARK} block (\\d+)$`, "gm"))];
    const latest = seen.length === 0 ? -1 : Number(seen[seen.length - 1][1]);
    if (latest !== current) {
      if (current >= 0) times[current] = Date.now() - since;
      current = latest;
      since = Date.now();
    }
    if (status !== undefined) {
      if (current >= 0 && times[current] === undefined) times[current] = Date.now() - since;
      return { status, timedOut, times, output: readFileSync(shellLog, "utf8") };
    }
    if (Date.now() - since > blockTimeoutMs && !timedOut) {
      timedOut = true;
      await killGroup(shell);
    }
  }
}

async function main() {
  const files = docFiles(process.argv.slice(2));
  const runnable = runnableBlocks(files);
  const missingTools = ["bash", "curl", "jq", "openssl"].filter(
    (tool) => spawnSync("bash", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status !== 0,
  );
  if (missingTools.length > 0) throw new DocsError(`the examples need ${missingTools.join(", ")}: install them first`);
  if (await answers(base)) {
    throw new DocsError(`something already answers on ${base}: stop it or set PORT to a free port`);
  }

  const work = await mkdtemp(join(tmpdir(), "docs-check-"));
  const repo = join(work, "repo");
  let dev = null;
  let shell = null;
  const cleanUp = async () => {
    await Promise.all([killGroup(shell), killGroup(dev)]);
    if (process.env.DOCS_CHECK_KEEP === "1") log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => cleanUp().finally(() => process.exit(130)));
  try {
    await copyRepository(repo);
    const env = {
      ...process.env,
      PATH: `${join(repo, "node_modules", ".bin")}:${process.env.PATH}`,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      // Our own registry of dev sessions, so that `npm run cron` reaches this server and no other.
      WRANGLER_REGISTRY_PATH: join(work, "wrangler-registry"),
      INGEST_ENDPOINT: base,
      INGEST_URL: base,
    };
    delete env.INGEST_TOKEN;
    const devLog = join(work, "dev.log");
    dev = await startDev(repo, env, devLog);
    const ran = Date.now();
    const result = await runShell(repo, env, runnable, join(work, "shell.log"), (child) => {
      shell = child;
    });
    return report(result, runnable, devLog, ran);
  } finally {
    await cleanUp();
  }
}

function report({ status, timedOut, times, output }, runnable, devLog, ran) {
  const segments = output.split(new RegExp(`^${MARK} block \\d+\\n`, "m")).slice(1);
  const passed = status === 0 && output.includes(`${MARK} done`);
  const failedAt = passed ? -1 : Math.max(0, segments.length - 1);
  runnable.forEach((block, index) => {
    if (index > (passed ? runnable.length - 1 : failedAt)) return;
    const seconds = ((times[index] ?? 0) / 1000).toFixed(1);
    const ok = passed || index < failedAt;
    log(`${ok ? "ok  " : "FAIL"} ${block.file}:${block.line} (${seconds} s)`);
    if (verbose && segments[index])
      console.log(segments[index].replace(new RegExp(`^${MARK} done\\n?`, "m"), "").trimEnd());
  });
  if (passed) {
    log(`${runnable.length} blocks ran and passed in ${((Date.now() - ran) / 1000).toFixed(1)} s`);
    return 0;
  }
  const block = runnable[failedAt];
  const why = timedOut ? `it ran longer than ${blockTimeoutMs / 1000} s and was stopped` : `bash exited with ${status}`;
  console.error(`\ndocs-check: the block at ${block.file}:${block.line} failed: ${why}\n`);
  console.error(`--- block ---\n${block.code}\n--- its output ---\n${tail(segments[failedAt] ?? "", 80) || "(none)"}`);
  console.error(`--- npm run dev, last lines ---\n${tail(readFileSync(devLog, "utf8"), 25)}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`docs-check: ${error instanceof DocsError ? error.message : error.stack}`);
    process.exit(1);
  },
);
