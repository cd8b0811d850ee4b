// 9. Listing at scale: GET /uploads over 1,000,000 upload rows in local D1 (100,000 with
// --quick), seeded with recursive-CTE INSERTs in batches. For each order, a key prefix and a
// state filter: the first page and a deep page (a cursor 90% of the way through), p50 of N
// requests over real HTTP; plus GET /uploads/summary. Prints SQLite's plan of each query.
import path from "node:path";
import { build } from "esbuild";
import { AUTH, ROOT, startProduct } from "../lib/harness.mjs";
import { agent, fmt, median, quantile, request, table } from "../lib/util.mjs";

const BATCH = 100_000;
const BASE_MS = Date.UTC(2026, 0, 1);

/** shared/db/listing.ts, bundled for Node, so the plans shown are of the very SQL the Worker runs. */
async function listingModule() {
  const out = await build({
    entryPoints: [path.join(ROOT, "shared", "db", "listing.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    write: false,
    logLevel: "error",
  });
  const source = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
}

/**
 * Row i: key bench/p{i % 100}/{i} (so a "bench/p7/" prefix is 1% of the rows), created i ms
 * after BASE_MS, 60% completed, 10% aborted, 10% failed, 20% open, ids in an order unrelated to
 * creation, expiries that do not follow creation either.
 */
async function seed(db, rows, log) {
  const started = performance.now();
  for (let from = 0; from < rows; from += BATCH) {
    await db
      .prepare(
        `INSERT INTO uploads (upload_id, r2_upload_id, object_key, api, state, stale_after_seconds, created_at,
           updated_at, last_activity_at, expires_at, mode)
         WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
         SELECT printf('b%07d', (i * 7919) % ?3), 'r2-' || i, printf('bench/p%d/%07d', i % 100, i), 'native',
           CASE WHEN i % 10 < 6 THEN 'completed' WHEN i % 10 = 6 THEN 'aborted' WHEN i % 10 = 7 THEN 'failed' ELSE 'open' END,
           86400, ?4 + i, ?4 + i, ?4 + i, ?4 + i + 86400000 - (i % 13) * 1000, 'parts'
         FROM n`,
      )
      .bind(from, Math.min(rows, from + BATCH), rows, BASE_MS)
      .run();
  }
  const ms = performance.now() - started;
  log(`  listing: seeded ${rows.toLocaleString("en-US")} uploads in ${fmt(ms / 1000)} s`);
  return ms;
}

const ORDER_TAGS = { newest: "n", oldest: "o", expiring: "e" };
/** The service's cursor format (producer/services/listing.ts): base64url of "tag.sortValue.uploadId". */
const cursorOf = (order, at, uploadId) => Buffer.from(`${ORDER_TAGS[order]}.${at}.${uploadId}`).toString("base64url");

export async function listingAtScale(ctx) {
  const rows = ctx.quick ? 100_000 : 1_000_000;
  const runs = ctx.runs ?? (ctx.quick ? 5 : 15);
  const listing = await listingModule();
  const product = await startProduct();
  const via = agent(1);
  const results = [];
  const plans = [];
  let seedMs;
  try {
    const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
    seedMs = await seed(db, rows, ctx.log);
    const all = { keys: listing.prefixRange(""), states: null, api: null, createdAfter: null, staleBefore: null };
    const scenarios = [
      { name: "newest", order: "newest", query: "", filter: {} },
      { name: "oldest", order: "oldest", query: "order=oldest", filter: {} },
      { name: "expiring (open only)", order: "expiring", query: "order=expiring", filter: {} },
      {
        name: "prefix bench/p7/ (1%)",
        order: "newest",
        query: "prefix=bench/p7/",
        filter: { keys: listing.prefixRange("bench/p7/") },
      },
      {
        name: "prefix bench/ (100%)",
        order: "newest",
        query: "prefix=bench/",
        filter: { keys: listing.prefixRange("bench/") },
      },
      { name: "state=failed (10%)", order: "newest", query: "state=failed", filter: { states: ["failed"] } },
      {
        name: "state=open,failed (30%)",
        order: "newest",
        query: "state=open,failed",
        filter: { states: ["open", "failed"] },
      },
    ];
    const time = async (url) => {
      const samples = [];
      for (let i = 0; i < runs + 1; i++) {
        const started = performance.now();
        const response = await request(url, { headers: AUTH, agent: via });
        const ms = performance.now() - started;
        if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${response.text().slice(0, 300)}`);
        if (i > 0) samples.push(ms); // the first request warms the isolate and SQLite's cache
      }
      return { p50: median(samples), p90: quantile(samples, 0.9) };
    };
    for (const scenario of scenarios) {
      const filter = { ...all, ...scenario.filter };
      // The row 90% of the way through this listing: a deep page's cursor.
      const probe = listing.listQuery(filter, scenario.order, null, 1);
      const depth = (
        await db
          .prepare(`SELECT count(*) AS n FROM (${probe.sql.replace(/LIMIT \?\d+$/, "")})`)
          .bind(...probe.values.slice(0, -1))
          .first()
      ).n;
      const deepRow = await db
        .prepare(probe.sql.replace(/LIMIT (\?\d+)$/, `LIMIT 1 OFFSET ${Math.floor(depth * 0.9)}`))
        .bind(...probe.values.slice(0, -1))
        .first();
      const at = scenario.order === "expiring" ? deepRow.expires_at : deepRow.created_at;
      const cursor = cursorOf(scenario.order, at, deepRow.upload_id);
      const q = (extra) => `${product.base}/uploads?limit=50${scenario.query ? `&${scenario.query}` : ""}${extra}`;
      const first = await time(q(""));
      const deep = await time(q(`&cursor=${cursor}`));
      const plan = await listing.queryPlan(
        db,
        listing.listQuery(filter, scenario.order, { at, uploadId: deepRow.upload_id }, 51),
      );
      plans.push({ name: scenario.name, plan });
      results.push([
        scenario.name,
        depth.toLocaleString("en-US"),
        fmt(first.p50),
        fmt(first.p90),
        fmt(deep.p50),
        fmt(deep.p90),
        plan[0],
      ]);
      ctx.log(`  listing ${scenario.name}: first ${fmt(first.p50)} ms, deep ${fmt(deep.p50)} ms; ${plan[0]}`);
    }
    const summary = await time(`${product.base}/uploads/summary`);
    results.push([
      "GET /uploads/summary",
      rows.toLocaleString("en-US"),
      fmt(summary.p50),
      fmt(summary.p90),
      "",
      "",
      "4 statements, one batch",
    ]);
    ctx.log(`  listing summary: ${fmt(summary.p50)} ms`);
  } finally {
    via.destroy();
    await product.close();
  }
  const markdown = [
    `${rows.toLocaleString("en-US")} upload rows in local D1 (seeded in ${fmt(seedMs / 1000)} s with recursive-CTE INSERTs of ${BATCH.toLocaleString("en-US")} rows), ` +
      `\`limit=50\`, p50 and p90 of ${runs} requests over HTTP (after one warm-up) per cell; "deep" starts from a cursor 90% of the way through the listing.`,
    "",
    table(
      ["listing", "rows matching", "first page p50 ms", "p90", "deep page p50 ms", "p90", "plan (first step)"],
      results,
    ),
    "",
    "Query plans (deep page):",
    "",
    "```",
    ...plans.flatMap(({ name, plan }) => [`-- ${name}`, ...plan]),
    "```",
  ].join("\n");
  return { title: "Listing at scale (GET /uploads)", markdown, checks: [] };
}
