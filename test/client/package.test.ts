// The client as a package: what `npm pack` would publish, and what its `exports` give Node and
// everything else. Runs against client/dist, built by the global setup (never rebuilt here:
// other test files run the CLI from it meanwhile, hence --ignore-scripts).
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";

const run = promisify(execFile);
const clientDir = fileURLToPath(new URL("../../client/", import.meta.url));

type Manifest = { name: string; bin: Record<string, string>; exports: Record<string, unknown> };
const manifest = async (): Promise<Manifest> =>
  JSON.parse(await readFile(join(clientDir, "package.json"), "utf8")) as Manifest;

/** Every file path named anywhere in `exports` (any condition, any depth). */
function targets(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (typeof value !== "object" || value === null) return [];
  return Object.values(value).flatMap(targets);
}

/** The bare specifiers (packages, node: built-ins) a module and everything it imports relatively reach. */
async function bareImports(entry: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(entry)) return [];
  seen.add(entry);
  const source = await readFile(entry, "utf8");
  const found: string[] = [];
  for (const match of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)) {
    const specifier = match[1] as string;
    if (specifier.startsWith(".")) found.push(...(await bareImports(resolve(dirname(entry), specifier), seen)));
    else found.push(specifier);
  }
  return found;
}

describe("the client package", () => {
  it("packs every file its exports and bin name, and neither sources nor tests", async () => {
    const { name, bin, exports } = await manifest();
    expect(name).toBe("@r2-ingest/client");
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: clientDir });
    const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
    const files = new Set(packed?.files.map((file) => file.path));
    for (const target of [...targets(exports), ...Object.values(bin)]) expect(files).toContain(relative(".", target));
    expect([...files].filter((file) => !/^(dist|docs)\/|^(package\.json|README\.md)$/.test(file))).toEqual([]);
  });

  it("gives Node the entry that reads files, and other runtimes a core with no imports at all", async () => {
    const { exports } = await manifest();
    const app = await mkdtemp(join(tmpdir(), "ingest-package-"));
    onTestFinished(() => rm(app, { recursive: true, force: true }));
    await mkdir(join(app, "node_modules", "@r2-ingest"), { recursive: true });
    await symlink(clientDir, join(app, "node_modules", "@r2-ingest", "client"));
    const script = 'const m = await import("@r2-ingest/client"); console.log(JSON.stringify(Object.keys(m)))';
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: app });
    expect(JSON.parse(stdout)).toEqual(
      expect.arrayContaining(["upload", "openFile", "createTransport", "getStatus", "IngestError"]),
    );

    // What a browser or Worker bundler picks: no node: built-in, no zod, no dependency of any kind.
    const core = (exports["."] as { default: string }).default;
    expect(await bareImports(join(clientDir, core))).toEqual([]);
    const nodeEntry = (exports["."] as { node: { default: string } }).node.default;
    expect(await bareImports(join(clientDir, nodeEntry))).toEqual(expect.arrayContaining(["node:fs"]));
  });
});
