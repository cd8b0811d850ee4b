import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type KeyRange, type ListFilter, listQuery, prefixRange, queryPlan } from "../../shared/db/listing";
import type { ListOrder, UploadListItem } from "../../shared/listing-schemas";
import { Pipeline } from "./helpers";

type Page = { items: UploadListItem[]; nextCursor: string | null };

const pipeline = new Pipeline();

/**
 * Inserts `count` uploads in one statement: keys `${prefix}x/…` and `${prefix}y/…` alternately,
 * three to a millisecond from `createdAt` (so ties on the sort column are common), ids in an
 * order unrelated to creation, a quarter completed, a quarter aborted, the rest open with
 * expiries that do not follow creation either.
 */
async function seed(prefix: string, count: number, createdAt: number): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO uploads (upload_id, r2_upload_id, object_key, api, state, stale_after_seconds, created_at, updated_at,
       last_activity_at, expires_at, mode)
     WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
     SELECT printf('%s%06d', ?1, (i * 7919) % ?2), 'r2-' || ?1 || i,
       printf('%s%s/%06d', ?1, CASE i % 2 WHEN 0 THEN 'x' ELSE 'y' END, i), 'native',
       CASE i % 4 WHEN 0 THEN 'completed' WHEN 1 THEN 'aborted' ELSE 'open' END, 86400,
       ?3 + i / 3, ?3 + i / 3, ?3 + i / 3, ?3 + i / 3 + 86400000 - (i % 7) * 1000, 'parts'
     FROM n`,
  )
    .bind(prefix, count, createdAt)
    .run();
}

async function page(query: string): Promise<Page> {
  const response = await pipeline.json<Page>(`/uploads?${query}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** Follows the cursors to the end (from `start`, if given); `between` runs after each page. */
async function pageThrough(query: string, between: (n: number) => Promise<void> = async () => {}, start = "") {
  const items: UploadListItem[] = [];
  let pages = 0;
  for (let cursor: string | null = start; cursor !== null; ) {
    const next: Page = await page(`${query}${cursor === "" ? "" : `&cursor=${cursor}`}`);
    items.push(...next.items);
    cursor = next.nextCursor;
    await between(++pages);
  }
  return { items, ids: items.map((item) => item.uploadId), pages };
}

const sortKey = (item: UploadListItem, order: ListOrder) =>
  `${order === "expiring" ? item.expiresAt : item.createdAt} ${item.uploadId}`;

function expectOrdered(items: UploadListItem[], order: ListOrder) {
  const keys = items.map((item) => sortKey(item, order));
  const sorted = [...keys].sort();
  expect(keys).toEqual(order === "newest" ? sorted.reverse() : sorted);
}

describe("paging", () => {
  it("pages through 10,000 uploads in every order, each exactly once", async () => {
    await seed("bulk/", 10_000, Date.UTC(2026, 0, 1));
    for (const [query, order, expected] of [
      ["prefix=bulk/&limit=200", "newest", 10_000],
      ["prefix=bulk/&limit=200&order=oldest", "oldest", 10_000],
      ["prefix=bulk/&limit=200&order=expiring", "expiring", 5_000],
      ["prefix=bulk/x/&limit=200", "newest", 5_000],
      ["prefix=bulk/&limit=200&state=completed", "newest", 2_500],
    ] as const) {
      const { items, ids, pages } = await pageThrough(query);
      expect(ids.length, query).toBe(expected);
      expect(new Set(ids).size, query).toBe(expected);
      expect(pages, query).toBe(Math.ceil(expected / 200));
      expectOrdered(items, order);
    }
  });

  it.each(["oldest", "newest", "expiring"] as const)(
    "neither repeats nor skips an upload when others are created between pages (%s)",
    async (order) => {
      const prefix = `live-${order}/`;
      await seed(prefix, 100, Date.now() - 3_600_000);
      const before = (await pageThrough(`prefix=${prefix}&limit=200&order=${order}`)).ids;
      const created: string[] = [];
      const { items, ids } = await pageThrough(`prefix=${prefix}&limit=7&order=${order}`, async (n) => {
        for (const half of ["x", "y"])
          created.push((await pipeline.create({ key: `${prefix}${half}/new-${n}` })).uploadId);
      });
      expect(new Set(ids).size).toBe(ids.length);
      // Every upload there was before paging began, once, in order; the new ones sort after
      // the last page (oldest, expiring: they are the newest and expire last) or before the
      // first (newest), so none of them can push an older one across a page boundary.
      expect(ids.filter((id) => before.includes(id))).toEqual(before);
      expectOrdered(items, order);
      const newOnes = ids.filter((id) => !before.includes(id));
      if (order === "newest") expect(newOnes).toEqual([]);
      else expect(newOnes.every((id) => created.includes(id))).toBe(true);
    },
  );

  it("continues from the cursor's position even when the item it points at is gone", async () => {
    await seed("gone/", 10, Date.UTC(2026, 1, 1));
    const first = await page("prefix=gone/&limit=4&order=oldest");
    const last = first.items.at(-1) as UploadListItem;
    await env.DB.prepare("DELETE FROM uploads WHERE upload_id = ?1").bind(last.uploadId).run();
    const rest = await pageThrough("prefix=gone/&limit=4&order=oldest", undefined, first.nextCursor ?? "");
    expect(rest.ids).toHaveLength(6);
    expect(rest.ids.some((id) => first.items.some((item) => item.uploadId === id))).toBe(false);
  });
});

describe("query plans", () => {
  const all: ListFilter & { keys: KeyRange } = {
    keys: prefixRange(""),
    states: null,
    api: null,
    createdAfter: null,
    staleBefore: null,
  };
  const cursor = { at: Date.UTC(2026, 0, 1), uploadId: "q3Zk0pX9-c1vT7wYbLm2Aw" };

  it.each([
    ["newest", {}, "uploads_by_created"],
    ["oldest", {}, "uploads_by_created"],
    ["expiring", {}, "uploads_by_state_expiry"],
    ["newest", { states: ["open"] }, "uploads_by_state_created"],
    ["oldest", { states: ["failed"], api: "tus" }, "uploads_by_state_created"],
    ["newest", { states: ["open", "failed"] }, "uploads_by_created"],
    ["newest", { createdAfter: Date.UTC(2025, 0, 1) }, "uploads_by_created"],
    ["expiring", { staleBefore: Date.UTC(2027, 0, 1) }, "uploads_by_state_expiry"],
  ] as const)("seeks a page (%s, %o) in %s without sorting", async (order, filter, index) => {
    for (const at of [null, cursor]) {
      const plan = await queryPlan(env.DB, listQuery({ ...all, ...filter }, order, at, 51));
      expect(plan[0]).toMatch(new RegExp(`^(SCAN|SEARCH) u USING (COVERING )?INDEX ${index}\\b`));
      if (at !== null) expect(plan[0]).toMatch(/^SEARCH .*\(created_at,upload_id\)|\(expires_at,upload_id\)/);
      expect(plan.join("\n")).not.toMatch(/TEMP B-TREE|SCAN (p|t)\b/);
    }
  });

  it("checks a key prefix inside the order's index instead of sorting the prefix's rows", async () => {
    for (const order of ["newest", "oldest", "expiring"] as const) {
      const plan = await queryPlan(env.DB, listQuery({ ...all, keys: prefixRange("devices/") }, order, cursor, 51));
      expect(plan[0]).toMatch(/^SEARCH u USING (COVERING )?INDEX uploads_by_(created|state_expiry) /);
      expect(plan.join("\n")).not.toMatch(/TEMP B-TREE/);
    }
  });
});
