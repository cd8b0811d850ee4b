// Which requests skip the static-asset lookup. With [assets] configured, a request whose path
// matches no `run_worker_first` pattern first costs a round trip to the asset service ("is there
// a file here?") before the Worker runs: one more hop for every chunk and every part. Every
// path of the native API and of tus must therefore be covered, in every environment.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { nativeRoutes } from "../../producer/routes/index";

const CONFIG = join(import.meta.dirname, "..", "..", "wrangler.toml");

/** The runtime's rule: `*` is any run of characters (slashes too), the whole path must match. */
function matches(pattern: string, path: string): boolean {
  const source = pattern
    .split("*")
    .map((piece) => piece.replace(/[-/\\^$*+?.()|[\]{}]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`).test(path);
}

/** A concrete path of a route: `{name}` becomes one segment, `{name+}` several. */
function samplePath(template: string): string {
  return template.replace(/\{\w+\+\}/g, "dir/sub/file.bin").replace(/\{\w+\}/g, "segment-1");
}

function workerFirst(env: string | undefined): string[] {
  const config = unstable_readConfig({ config: CONFIG, env }) as { assets?: { run_worker_first?: unknown } };
  const patterns = config.assets?.run_worker_first;
  return Array.isArray(patterns) ? patterns.map(String) : [];
}

describe("asset routing", () => {
  const paths = [...new Set(nativeRoutes.map((route) => samplePath(route.spec.path)))];

  it.each([
    ["development", undefined],
    ["staging", "staging"],
    ["production", "production"],
  ])("sends every API path straight to the Worker in %s", (_, env) => {
    const patterns = workerFirst(env);
    const uncovered = paths.filter((path) => !patterns.some((pattern) => matches(pattern, path)));
    expect(uncovered).toEqual([]);
  });

  it("leaves the console's own files to the asset service", () => {
    const patterns = workerFirst(undefined);
    for (const path of ["/", "/index.html", "/assets/index-abc123.js"]) {
      expect(patterns.some((pattern) => matches(pattern, path))).toBe(false);
    }
  });

  it("matches the way the runtime does", () => {
    expect(matches("/uploads/*", "/uploads/u1/chunks/3")).toBe(true);
    expect(matches("/uploads/*", "/uploads")).toBe(false);
    expect(matches("/files", "/files/x")).toBe(false);
  });
});
