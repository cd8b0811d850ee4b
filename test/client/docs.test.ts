// The client's README and API reference, run as written: every ```sh and ```js block, in a
// fresh directory where the package is installed (a link to client/, built by the global
// setup). Only the development endpoint and key are swapped for the test server's.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";
import { endpoint, token } from "./helpers.js";

const run = promisify(execFile);
const clientDir = fileURLToPath(new URL("../../client/", import.meta.url));

async function blocks(file: string, language: string): Promise<string[]> {
  const text = await readFile(join(clientDir, file), "utf8");
  return [...text.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))].map(
    (match) => match[1] as string,
  );
}

/** The documents say where `npm run dev` listens and which key it accepts; the tests have their own. */
const forTests = (code: string) =>
  code
    .replaceAll("http://127.0.0.1:8787", endpoint().replace(/\/$/, ""))
    .replaceAll("dev-key-0123456789abcdef", token());

/** A directory where `npm install @r2-ingest/client` has been run. */
async function project(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ingest-docs-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "package.json"), '{ "private": true, "type": "module" }\n');
  await mkdir(join(dir, "node_modules", "@r2-ingest"), { recursive: true });
  await mkdir(join(dir, "node_modules", ".bin"));
  await symlink(clientDir, join(dir, "node_modules", "@r2-ingest", "client"));
  const manifest = JSON.parse(await readFile(join(clientDir, "package.json"), "utf8")) as { bin: { ingest: string } };
  await symlink(join("..", "@r2-ingest", "client", manifest.bin.ingest), join(dir, "node_modules", ".bin", "ingest"));
  // As npm does when it links a package's bin.
  await chmod(join(clientDir, manifest.bin.ingest), 0o755);
  return dir;
}

describe("the client's documentation", () => {
  it("README's shell block runs in order and ends with an identical download", async () => {
    // The install line is what the linked package stands for; everything else runs, in order.
    const shell = (await blocks("README.md", "sh")).filter((block) => block.trim() !== "npm install @r2-ingest/client");
    expect(shell.length).toBeGreaterThanOrEqual(1);
    const dir = await project();
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("INGEST_")));
    const script = forTests(shell.join("\n"));
    const { stdout, stderr } = await run("bash", ["-euo", "pipefail", "-c", script], {
      cwd: dir,
      env,
      maxBuffer: 1 << 24,
    });
    expect(stdout).toContain("identical");
    expect(stdout).toMatch(/^State +completed/m);
    expect(stderr).not.toMatch(/ingest: /);
  });

  it("every JavaScript example in the README and the API reference runs", async () => {
    const examples = [...(await blocks("README.md", "js")), ...(await blocks("docs/api.md", "js"))];
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const dir = await project();
    await writeFile(join(dir, "big.bin"), randomBytes(6 * 1024 * 1024 + 1234));
    for (const [index, example] of examples.entries()) {
      const file = join(dir, `example-${index}.mjs`);
      await writeFile(file, forTests(example));
      // Rejects, failing the test, when the example exits non-zero.
      await run(process.execPath, [file], { cwd: dir });
    }
  });
});
