// The log-line rules, checked on the Workers' sources so that a new line cannot forget them:
// every warning and error carries a `code`, and a line that names an upload (uploadId) names its
// object key too. The behaviour of the main lines is tested in test/workers/log-fields.test.ts.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

type LogCall = { where: string; level: string; text: string };

/** Every console call of the Workers, with its arguments' text (balanced parentheses). */
function logCalls(): LogCall[] {
  const calls: LogCall[] = [];
  for (const file of ["producer", "consumer", "shared"].flatMap(sources)) {
    const source = readFileSync(join(root, file), "utf8");
    for (const match of source.matchAll(/console\.(log|info|warn|error)\(/g)) {
      let depth = 1;
      let end = match.index + match[0].length;
      while (depth > 0 && end < source.length) {
        const char = source[end++];
        if (char === "(") depth++;
        else if (char === ")") depth--;
      }
      const line = source.slice(0, match.index).split("\n").length;
      calls.push({
        where: `${relative(root, join(root, file))}:${line}`,
        level: match[1] ?? "",
        text: source.slice(match.index, end),
      });
    }
  }
  return calls;
}

describe("log lines", () => {
  const calls = logCalls();

  it("are found in the sources", () => {
    expect(calls.length).toBeGreaterThan(20);
  });

  it("carry a code when they are warnings or errors", () => {
    const missing = calls.filter(
      ({ level, text }) => (level === "warn" || level === "error") && !/\bcode\b/.test(text),
    );
    expect(missing.map(({ where }) => where)).toEqual([]);
  });

  it("name the object key wherever they name an upload", () => {
    // `...outcome` spreads a completion outcome, which carries the key (shared/completion.ts).
    const missing = calls.filter(
      ({ text }) => /\buploadIds?\b/.test(text) && !/\bkeys?\b/.test(text) && !text.includes("...outcome"),
    );
    expect(missing.map(({ where }) => where)).toEqual([]);
  });
});
