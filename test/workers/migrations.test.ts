// Schema changes on a live deployment (docs/upgrades.md): the database is rebuilt from nothing
// and the migrations are applied one at a time. After each one, rows written before it, in the
// shape the schema had then (every column of every table, as the Workers of that time would
// write them), must still be there with the same values; then a new generation of rows is
// written in the new shape. At the end, the current code reads every generation. A migration
// that rebuilds a table and loses a column, or adds a NOT NULL column without a default, or
// backfills wrongly, fails here against real local D1.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { prefixRange, summarizeUploads } from "../../shared/db/listing";
import { summarizeParts } from "../../shared/db/parts";
import { getTusUpload } from "../../shared/db/tus";
import { getUpload } from "../../shared/db/uploads";
import { toUploadStatus } from "../../shared/status";

type Value = string | number | null;
type Row = { table: string; values: Record<string, Value> };
type Column = { name: string; type: string; notnull: number; dflt_value: string | null; pk: number };
type ForeignKey = { table: string; from: string; to: string };

/**
 * Values the schema constrains (CHECK lists without a default, JSON the code parses, columns whose
 * meaning the reads below depend on). Other columns get their text default if they have one,
 * else a value of their type, different per generation.
 */
const FIXED: Record<string, Record<string, Value>> = {
  uploads: {
    api: "native",
    state: "open",
    mode: "parts",
    chunk_store: "d1",
    part_size: 5 * 1024 * 1024,
    expected_parts: 2,
    custom_metadata: '{"origin":"migrations test"}',
    claim_id: null,
    claimed_at: null,
    completed_at: null,
    object_etag: null,
    object_size: null,
    failure_reason: null,
    abort_reason: null,
    r2_abort_pending: 0,
    final_chunk: null,
    lease_id: null,
    lease_until: null,
    part_slots: 1,
  },
  parts: { part_number: 1, size: 5 * 1024 * 1024 },
  chunks: { state: "staged", seq: 1 },
  chunk_spans: { first_seq: 1, last_seq: 1 },
  tus_uploads: { concat: "single", partials: null, used_by: null },
  dead_letters: { body: '{"type":"part.uploaded"}' },
};

/**
 * A column's default when it is a non-empty text literal ('dead'): what its CHECK list, if any,
 * accepts. (An empty default such as r2_upload_id's '' is a placeholder a trigger refuses.)
 */
function textDefault(column: Column): string | undefined {
  const literal = /^'((?:[^']|'')+)'$/.exec(column.dflt_value ?? "");
  return literal ? literal[1]!.replaceAll("''", "'") : undefined;
}

/** Tables the migrations made (not SQLite's, D1's or the migrations' bookkeeping). */
async function tables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  return results.map((row) => row.name);
}

const columnsOf = async (table: string) =>
  (
    await env.DB.prepare('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?1)')
      .bind(table)
      .all<Column>()
  ).results;

const foreignKeysOf = async (table: string) =>
  (await env.DB.prepare('SELECT "table", "from", "to" FROM pragma_foreign_key_list(?1)').bind(table).all<ForeignKey>())
    .results;

/** Tables ordered so that a table comes after every table it references. */
async function insertionOrder(): Promise<{ table: string; keys: ForeignKey[] }[]> {
  const pending = await Promise.all(
    (await tables()).map(async (table) => ({ table, keys: await foreignKeysOf(table) })),
  );
  const ordered: typeof pending = [];
  while (pending.length > 0) {
    const next = pending.findIndex((entry) =>
      entry.keys.every((key) => key.table === entry.table || ordered.some((done) => done.table === key.table)),
    );
    if (next === -1) throw new Error(`circular references among ${pending.map((entry) => entry.table).join(", ")}`);
    ordered.push(...pending.splice(next, 1));
  }
  return ordered;
}

/** One row per table, in the schema's current shape: every column given a value. */
async function writeGeneration(generation: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const { table, keys } of await insertionOrder()) {
    const values: Record<string, Value> = {};
    for (const column of await columnsOf(table)) {
      const key = keys.find((candidate) => candidate.from === column.name);
      const referenced = key && rows.find((row) => row.table === key.table)?.values[key.to];
      if (referenced !== undefined && referenced !== null) values[column.name] = referenced;
      else if (FIXED[table] && column.name in FIXED[table]) values[column.name] = FIXED[table][column.name] ?? null;
      else if (textDefault(column) !== undefined) values[column.name] = textDefault(column)!;
      else if (/INT/i.test(column.type)) values[column.name] = 1_000_000 + generation;
      else values[column.name] = `${table}.${column.name}.g${generation}`;
    }
    const names = Object.keys(values);
    const sql = `INSERT INTO ${table} (${names.map((name) => `"${name}"`).join(", ")}) VALUES (${names.map((_, i) => `?${i + 1}`).join(", ")})`;
    try {
      await env.DB.prepare(sql)
        .bind(...Object.values(values))
        .run();
    } catch (error) {
      throw new Error(
        `writing ${table} after migration ${generation} failed (add its constrained columns to FIXED): ${error}`,
      );
    }
    rows.push({ table, values });
  }
  return rows;
}

/** Whether a row written earlier is still there with every value it was written with. */
async function stillThere(row: Row): Promise<boolean> {
  const names = Object.keys(row.values);
  const where = names.map((name, i) => `"${name}" IS ?${i + 1}`).join(" AND ");
  const found = await env.DB.prepare(`SELECT count(*) AS n FROM ${row.table} WHERE ${where}`)
    .bind(...Object.values(row.values))
    .first<{ n: number }>();
  return found?.n === 1;
}

describe("migrations applied one at a time to a database in use", () => {
  it("keep every row written before each of them, and the current code reads every generation", async () => {
    // This file's storage is its own: start from an empty database.
    for (const table of (await insertionOrder()).reverse()) await env.DB.prepare(`DROP TABLE ${table.table}`).run();
    await env.DB.prepare("DROP TABLE IF EXISTS d1_migrations").run();
    expect(await tables()).toEqual([]);

    const written: { migration: string; rows: Row[] }[] = [];
    for (const [index, migration] of env.TEST_MIGRATIONS.entries()) {
      await env.DB.batch(migration.queries.map((query) => env.DB.prepare(query)));
      for (const generation of written) {
        for (const row of generation.rows) {
          expect(
            await stillThere(row),
            `${row.table} row written after ${generation.migration}, read after ${migration.name}`,
          ).toBe(true);
        }
      }
      written.push({ migration: migration.name, rows: await writeGeneration(index + 1) });
    }

    const uploads = written.map((generation) => ({
      migration: generation.migration,
      values: generation.rows.find((row) => row.table === "uploads")!.values,
    }));
    expect(uploads).toHaveLength(env.TEST_MIGRATIONS.length);
    for (const { migration, values } of uploads) {
      const id = String(values.upload_id);
      const row = await getUpload(env.DB, id);
      expect(row, id).not.toBeNull();
      // 0004 backfilled R2's id of the rows before it with their own id; later rows wrote one.
      expect(row!.r2_upload_id).toBe(migration < "0004" ? id : values.r2_upload_id);
      const status = toUploadStatus(row!, await summarizeParts(env.DB, id));
      expect(status).toMatchObject({ uploadId: id, state: "open", receivedParts: 1, missingParts: ["2"] });
      expect(status.metadata).toEqual({ origin: "migrations test" });
    }
    const tusRows = written.flatMap((generation) => generation.rows.filter((row) => row.table === "tus_uploads"));
    expect(tusRows.length).toBeGreaterThan(0);
    for (const { values } of tusRows) expect(await getTusUpload(env.DB, String(values.upload_id))).not.toBeNull();
    const summary = await summarizeUploads(env.DB, prefixRange(""), Date.now(), Date.now() - 86_400_000);
    expect(summary.byState.open).toBe(uploads.length);
  });
});
