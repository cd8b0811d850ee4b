// Every migration must be safe while both Workers still run the code of before it (expand, then
// contract: docs/upgrades.md). So a migration may add tables, columns, indexes and triggers and
// backfill rows, but not rename anything, not drop a table or column the code still names
// (all SQL lives in shared/db/), and not add a NOT NULL column without a default. The rows
// themselves are checked against real D1 in test/workers/migrations.test.ts.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const MIGRATIONS = join(ROOT, "migrations");
const SQL_CODE = join(ROOT, "shared", "db");

/** The SQL of shared/db/, where every query of both Workers is. */
const code = readdirSync(SQL_CODE)
  .filter((file) => file.endsWith(".ts"))
  .map((file) => readFileSync(join(SQL_CODE, file), "utf8"))
  .join("\n");
const namedInCode = (name: string) => new RegExp(`\\b${name}\\b`, "i").test(code);

/** Statements without comments and string contents, upper-cased words kept as written. */
function statements(sql: string): string[] {
  return sql
    .replace(/--[^\n]*/g, " ")
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/'(?:[^']|'')*'/g, "''")
    .split(";")
    .map((statement) => statement.replace(/\s+/g, " ").trim())
    .filter((statement) => statement !== "");
}

/** Why a migration is not additive, one sentence per statement that is not. */
function notAdditive(sql: string, isNamedInCode: (name: string) => boolean = namedInCode): string[] {
  const problems: string[] = [];
  for (const statement of statements(sql)) {
    const dropTable = /^DROP (TABLE|VIEW)(?: IF EXISTS)? "?(\w+)"?/i.exec(statement);
    if (dropTable && isNamedInCode(dropTable[2]!)) {
      problems.push(`drops ${dropTable[1]!.toLowerCase()} ${dropTable[2]}, which shared/db/ still uses: ${statement}`);
    }
    const alter = /^ALTER TABLE "?(\w+)"? (.*)$/i.exec(statement);
    if (!alter) continue;
    const [, table, action] = alter as unknown as [string, string, string];
    if (/^RENAME\b/i.test(action)) {
      problems.push(`renames in ${table}: code of the previous deploy still uses the old name: ${statement}`);
    }
    const dropColumn = /^DROP (?:COLUMN )?"?(\w+)"?/i.exec(action);
    if (dropColumn && isNamedInCode(dropColumn[1]!)) {
      problems.push(`drops ${table}.${dropColumn[1]}, which shared/db/ still uses: ${statement}`);
    }
    if (/^ADD\b/i.test(action) && /\bNOT NULL\b/i.test(action) && !/\bDEFAULT\b/i.test(action)) {
      problems.push(`adds a NOT NULL column to ${table} without a default: ${statement}`);
    }
  }
  return problems;
}

describe("migrations are additive", () => {
  const files = readdirSync(MIGRATIONS)
    .filter((file) => file.endsWith(".sql"))
    .sort();

  it("are numbered NNNN_name.sql, each number once", () => {
    // Numbers may have gaps: parallel work reserves them ahead, and D1 applies any file it has
    // not applied yet, whatever its number (docs/upgrades.md).
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(file).toMatch(/^\d{4}_[a-z0-9_]+\.sql$/);
    const numbers = files.map((file) => file.slice(0, 4));
    expect(new Set(numbers).size, numbers.join(" ")).toBe(numbers.length);
  });

  it.each(files)("%s adds without renaming or dropping what the code uses", (file) => {
    expect(notAdditive(readFileSync(join(MIGRATIONS, file), "utf8"))).toEqual([]);
  });

  it("the check itself refuses renames, drops of used names and NOT NULL columns without a default", () => {
    const used = (name: string) => ["uploads", "state", "parts"].includes(name);
    expect(notAdditive("ALTER TABLE uploads DROP COLUMN state;", used)).toHaveLength(1);
    expect(notAdditive("ALTER TABLE parts RENAME TO parts_old;", used)).toHaveLength(1);
    expect(notAdditive("ALTER TABLE uploads RENAME COLUMN state TO status;", used)).toHaveLength(1);
    expect(notAdditive("DROP TABLE IF EXISTS parts;", used)).toHaveLength(1);
    expect(notAdditive("ALTER TABLE uploads ADD COLUMN ended_at INTEGER NOT NULL;", used)).toHaveLength(1);
    // What expand/contract allows: additions, a default, dropping what no code uses any more.
    expect(
      notAdditive(
        [
          "ALTER TABLE uploads ADD COLUMN ended_at INTEGER NOT NULL DEFAULT 0;",
          "ALTER TABLE uploads ADD COLUMN note TEXT; -- DROP TABLE uploads",
          "CREATE INDEX uploads_by_end ON uploads (state, ended_at);",
          "DROP INDEX uploads_by_state_expiry;",
          "ALTER TABLE uploads DROP COLUMN legacy_flag;",
          "DROP TABLE old_counters;",
          "UPDATE uploads SET note = 'DROP TABLE uploads' WHERE note IS NULL;",
        ].join("\n"),
        used,
      ),
    ).toEqual([]);
  });
});
