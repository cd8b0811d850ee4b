// 13. Retention (issue 14): does the cron's pruning keep D1 flat, and can it drain a backlog?
//
// (a) Soak: clients keep opening uploads (parts uploads, D1-path chunk streams, aborted ones)
//     over real HTTP while the consumer's cron fires every few seconds. Time is compressed with
//     an offset: every window is 1 day and the cron runs as of (now + 1 day - WINDOW_S), so an
//     upload that ended more than WINDOW_S seconds ago (real time) is past every window. Row
//     counts per table are printed at each cron run: they stop growing once the first uploads
//     age out, while the number of uploads made keeps growing.
// (b) Backlog: 1,000,000 finished rows (20,000 uploads that ended 100 days ago, each with 10
//     parts, 30 chunks and 9 chunk spans) seeded with recursive-CTE INSERTs, next to 2,000 old
//     uploads that must survive (open, and completing); then the real cron, run after run with
//     the default PRUNE_BATCH_LIMIT, until a run prunes nothing. Per run: wall time of the
//     `scheduled()` call, the prune phase's own time, rows, rounds and D1 statements (from the
//     sweep's log line), against a cron invocation's limits.
import { AUTH, startProduct } from "../lib/harness.mjs";
import { agent, fmt, median, request, sleep, table } from "../lib/util.mjs";

const DAY_MS = 24 * 60 * 60 * 1000;
const KiB = 1024;
/** D1 (Workers Paid): queries per Worker invocation, and the longest one query or batch may take. */
const D1_QUERIES_PER_INVOCATION = 1000;
const D1_QUERY_LIMIT_MS = 30_000;
/** Statements the sweep's other phases run when they find nothing (stale, R2 aborts, stalled, idle streams). */
const OTHER_PHASE_STATEMENTS = 4;

// ---- shared ---------------------------------------------------------------------------------------

async function counts(db) {
  const row = await db
    .prepare(
      `SELECT (SELECT count(*) FROM uploads) AS uploads, (SELECT count(*) FROM parts) AS parts,
         (SELECT count(*) FROM chunks) AS chunks, (SELECT count(*) FROM chunk_spans) AS spans,
         (SELECT count(*) FROM upload_tombstones) AS tombstones`,
    )
    .first();
  return { ...row, total: row.uploads + row.parts + row.chunks + row.spans + row.tombstones };
}

/** Fires the consumer's cron as of `scheduledTime` and returns its wall time and its sweep log line. */
async function cron(server, scheduledTime) {
  server.clearLogs();
  const started = performance.now();
  const result = await server
    .getWorker("ingest-consumer")
    .scheduled({ cron: "* * * * *", scheduledTime: new Date(scheduledTime) });
  const wallMs = performance.now() - started;
  if (result.outcome !== "ok") throw new Error(`cron run: ${JSON.stringify(result)}`);
  const line = server
    .getLogs()
    .map((log) => {
      try {
        return JSON.parse(log.message);
      } catch {
        return null;
      }
    })
    .find((entry) => entry?.event === "sweep");
  if (line === undefined) throw new Error("the cron run logged no sweep line");
  return { wallMs, sweep: line };
}

const n = (value) => value.toLocaleString("en-US");

// ---- (a) soak -----------------------------------------------------------------------------------

const WINDOW_S = 30;
/** Uploads started per second, across the clients: well within what 2 shared cores sustain. */
const RATE = 2;

async function oneUpload(base, via, kind, seq) {
  const key = `soak/${kind}/${seq}`;
  const create = async (body) => {
    const response = await request(`${base}/uploads`, {
      method: "POST",
      agent: via,
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`create ${kind}: ${response.status} ${response.text().slice(0, 200)}`);
    return response.json().uploadId;
  };
  const put = async (path, bytes) => {
    const response = await request(`${base}${path}`, { method: "PUT", agent: via, headers: AUTH, body: bytes });
    if (response.status !== 200) throw new Error(`PUT ${path}: ${response.status} ${response.text().slice(0, 200)}`);
  };
  // In flight for at most a few seconds; long stale windows keep the offset cron from sweeping them.
  const stale = { staleAfterSeconds: 7 * 24 * 3600 };
  if (kind === "parts") {
    const id = await create({ key, parts: 1, partSize: 5 * 1024 * KiB, ...stale });
    await put(`/uploads/${id}/parts/1`, new Uint8Array(4 * KiB).fill(seq % 251));
  } else if (kind === "stream") {
    const id = await create({ key, mode: "stream", ...stale });
    for (let chunk = 1; chunk <= 16; chunk++) {
      await put(`/uploads/${id}/chunks/${chunk}${chunk === 16 ? "?final=1" : ""}`, new Uint8Array(KiB).fill(chunk));
    }
  } else {
    const id = await create({ key, parts: 2, partSize: 5 * 1024 * KiB, ...stale });
    const response = await request(`${base}/uploads/${id}`, { method: "DELETE", agent: via, headers: AUTH });
    if (response.status !== 200) throw new Error(`abort: ${response.status}`);
  }
}

async function soak(ctx) {
  const seconds = ctx.quick ? 75 : 180;
  const tickS = 5;
  const clients = 3;
  const product = await startProduct({
    // Streams on the D1 chunk path: each chunk is a row in chunks, the heaviest detail there is.
    producerVars: { CHUNK_STORE: "d1" },
    consumerVars: { RETENTION_DETAIL_DAYS: "1", RETENTION_UPLOAD_DAYS: "1", RETENTION_TOMBSTONE_DAYS: "1" },
  });
  const via = agent(clients * 2);
  const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
  const samples = [];
  let made = 0;
  let failures = 0;
  let stop = false;
  try {
    const started = performance.now();
    const kinds = ["parts", "parts", "stream", "aborted"];
    const client = async (index) => {
      for (let i = 0; !stop; i++) {
        const seq = i * clients + index;
        // Paced at RATE uploads/s in all (a client behind its schedule starts at once): a steady
        // arrival rate, so a flat row count means pruning keeps up, not that traffic slowed.
        await sleep(Math.max(0, started + (seq / RATE) * 1000 - performance.now()));
        if (stop) break;
        try {
          await oneUpload(product.base, via, kinds[seq % kinds.length], seq);
          made++;
        } catch (error) {
          failures++;
          if (failures <= 3) ctx.log(`  retention soak: ${error.message}`);
        }
      }
    };
    const traffic = Promise.all(Array.from({ length: clients }, (_, index) => client(index)));
    for (let t = tickS; t <= seconds; t += tickS) {
      await sleep(Math.max(0, started + t * 1000 - performance.now()));
      const run = await cron(product.server, Date.now() + DAY_MS - WINDOW_S * 1000);
      const rows = await counts(db);
      samples.push({ t, made, rows, run });
      ctx.log(
        `  retention soak t=${t}s: ${n(made)} uploads made, rows ${n(rows.total)} (uploads ${rows.uploads}, parts ${rows.parts}, chunks ${rows.chunks}, spans ${rows.spans}, tombstones ${rows.tombstones}); pruned ${run.sweep.prunedDetailRows} detail rows + ${run.sweep.prunedUploads} uploads in ${run.sweep.pruneMs} ms`,
      );
    }
    stop = true;
    await traffic;
  } finally {
    stop = true;
    via.destroy();
    await product.close();
  }
  // Steady state: from twice the window on, every upload older than the window is gone.
  const steady = samples.filter((sample) => sample.t >= 2 * WINDOW_S);
  const totals = steady.map((sample) => sample.rows.total);
  const flat = totals.length > 0 && Math.max(...totals) <= 1.5 * median(totals);
  // Pruning, not a lull in traffic: more uploads were made in the steady phase than D1 holds.
  const madeSteady = steady.length > 1 ? steady.at(-1).made - steady[0].made : 0;
  const grew = madeSteady > (steady.at(-1)?.rows.uploads ?? Number.POSITIVE_INFINITY);
  const markdown = [
    `${clients} clients over HTTP for ${seconds} s, starting ${RATE} uploads a second between them (achieved: ${fmt(made / seconds, 2)}/s), in turn: a parts upload (1 part of 4 KiB, completed by the consumer), another, ` +
      "a chunk stream on the D1 chunk path (16 chunks of 1 KiB, final; coalesced and completed by the consumer), an upload aborted by the client. " +
      `The cron fires every ${tickS} s as of (now + 1 day - ${WINDOW_S} s) with every retention window at 1 day: an upload is pruned (details, row and, ` +
      `in this setting, its tombstone at once) ${WINDOW_S} s of real time after it ended. Rows are counted after each run.`,
    "",
    table(
      [
        "t (s)",
        "uploads made",
        "rows in D1",
        "uploads",
        "parts",
        "chunks",
        "spans",
        "tombstones",
        "pruned: detail rows",
        "pruned: uploads",
        "prune ms",
        "cron run ms",
      ],
      samples.map(({ t, made: count, rows, run }) => [
        t,
        n(count),
        n(rows.total),
        rows.uploads,
        rows.parts,
        rows.chunks,
        rows.spans,
        rows.tombstones,
        run.sweep.prunedDetailRows,
        run.sweep.prunedUploads,
        run.sweep.pruneMs,
        fmt(run.wallMs, 0),
      ]),
    ),
    "",
    `From t = ${2 * WINDOW_S} s on: rows in D1 min ${n(Math.min(...totals))}, median ${n(median(totals))}, max ${n(Math.max(...totals))} ` +
      `while uploads made went from ${n(steady[0]?.made ?? 0)} to ${n(steady.at(-1)?.made ?? 0)} ` +
      `(${n(madeSteady)} more, against ${n(steady.at(-1)?.rows.uploads ?? 0)} upload rows held at the end); ${failures} client request(s) failed.`,
  ].join("\n");
  return {
    markdown,
    checks: [
      {
        name: "retention soak: rows flat while uploads keep coming",
        ok: flat && grew && failures === 0,
        detail: `max ${n(Math.max(...totals))} vs median ${n(median(totals))}; uploads made ${n(made)}; failures ${failures}`,
      },
    ],
  };
}

// ---- (b) backlog --------------------------------------------------------------------------------

const PER_UPLOAD = { parts: 10, chunks: 30, spans: 9 };
const KEEP_EACH = 1_000;
const SEED_ROWS = 100_000;

async function seedUploads(db, prefix, count, state, endedAt, now) {
  await db
    .prepare(
      `INSERT INTO uploads (upload_id, r2_upload_id, object_key, api, state, stale_after_seconds, created_at, updated_at,
         last_activity_at, expires_at, mode, ended_at, claim_id, claimed_at)
       WITH RECURSIVE u(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM u WHERE i + 1 < ?2)
       SELECT printf('%s%06d', ?1, i), 'r2-' || i, printf('backlog/%s/%06d', ?1, i), 'native', ?3, 86400,
         ?5 - 101 * 86400000, ?5, ?5, ?5 + 365 * 86400000, 'parts', ?4,
         CASE ?3 WHEN 'completing' THEN 'bench-claim' END, CASE ?3 WHEN 'completing' THEN ?5 + 365 * 86400000 END
       FROM u`,
    )
    .bind(prefix, count, state, endedAt, now)
    .run();
}

async function seedBacklog(db, now, uploads) {
  const endedAt = now - 100 * DAY_MS;
  await seedUploads(db, "done-", uploads, "completed", endedAt, now);
  // Old but live: an open upload (expiring in a year) and a completion whose claim is fresh.
  await seedUploads(db, "open-", KEEP_EACH, "open", null, now);
  await seedUploads(db, "busy-", KEEP_EACH, "completing", null, now);
  const parts = `INSERT INTO parts (upload_id, part_number, etag, size, seq, uploaded_at, recorded_at)
    SELECT id, k, 'etag', 5242880, k, 0, 0 FROM (`;
  const close = ")";
  for (const prefix of ["done-", "open-", "busy-"]) {
    const count = prefix === "done-" ? uploads : KEEP_EACH;
    await seedDetail(db, prefix, count, PER_UPLOAD.parts, parts, close);
  }
  await seedDetail(
    db,
    "done-",
    uploads,
    PER_UPLOAD.chunks,
    `INSERT INTO chunks (upload_id, seq, size, md5, state, staged_at, merged) SELECT id, k, 4096, 'md5', 'coalesced', 0, 1 FROM (`,
    close,
  );
  await seedDetail(
    db,
    "done-",
    uploads,
    PER_UPLOAD.spans,
    `INSERT INTO chunk_spans (upload_id, first_seq, last_seq, size, staged_key, md5) SELECT id, k, k, 4096, 'span', 'md5' FROM (`,
    close,
  );
}

/** Rows (id, k) for k = 1..rowsPerUpload of uploads [0, count) of a prefix, fed to `head ... tail`, SEED_ROWS per statement. */
async function seedDetail(db, prefix, count, rowsPerUpload, head, tail) {
  const perStatement = Math.floor(SEED_ROWS / rowsPerUpload);
  for (let from = 0; from < count; from += perStatement) {
    await db
      .prepare(
        `${head}
           WITH RECURSIVE u(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM u WHERE i + 1 < ?2),
             s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < ?3)
           SELECT printf('%s%06d', ?4, i) AS id, k FROM u, s
         ${tail}`,
      )
      .bind(from, Math.min(count, from + perStatement), rowsPerUpload, prefix)
      .run();
  }
}

async function liveRows(db) {
  return db
    .prepare(
      `SELECT (SELECT count(*) FROM uploads WHERE state IN ('open', 'completing')) AS uploads,
         (SELECT count(*) FROM parts WHERE upload_id >= 'busy-' AND upload_id < 'busy.'
            OR upload_id >= 'open-' AND upload_id < 'open.') AS parts`,
    )
    .first();
}

async function backlog(ctx) {
  // 20,000 uploads of 49 detail rows: 1,000,000 rows (--quick: a tenth).
  const uploads = ctx.quick ? 2_000 : 20_000;
  const product = await startProduct();
  const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
  const runs = [];
  let before;
  let after;
  let seedMs;
  let liveBefore;
  let liveAfter;
  try {
    const now = Date.now();
    const seedStart = performance.now();
    await seedBacklog(db, now, uploads);
    seedMs = performance.now() - seedStart;
    before = await counts(db);
    liveBefore = await liveRows(db);
    ctx.log(`  retention backlog: seeded ${n(before.total)} rows in ${fmt(seedMs / 1000)} s`);
    for (let run = 1; run <= 200; run++) {
      const { wallMs, sweep } = await cron(product.server, Date.now());
      const deleted =
        sweep.prunedDetailRows + sweep.prunedUploads + sweep.expiredTombstones + (sweep.prunedDeadLetters ?? 0);
      runs.push({ run, wallMs, sweep, deleted });
      ctx.log(
        `  retention backlog run ${run}: ${n(deleted)} rows in ${sweep.pruneMs} ms (${sweep.pruneRounds} rounds, ${sweep.pruneStatements} statements), cron ${fmt(wallMs, 0)} ms`,
      );
      if (deleted === 0) break;
    }
    after = await counts(db);
    liveAfter = await liveRows(db);
  } finally {
    await product.close();
  }
  const working = runs.filter((run) => run.deleted > 0);
  const pruneMs = working.map((run) => run.sweep.pruneMs);
  const statements = working.map((run) => run.sweep.pruneStatements + OTHER_PHASE_STATEMENTS);
  const perRound = working.map((run) => run.sweep.pruneMs / run.sweep.pruneRounds);
  const drained =
    after.parts - liveAfter.parts === 0 && after.chunks === 0 && after.spans === 0 && after.uploads === 2 * KEEP_EACH;
  const untouched = liveAfter.uploads === liveBefore.uploads && liveAfter.parts === liveBefore.parts;
  const withinLimits =
    Math.max(...statements) <= D1_QUERIES_PER_INVOCATION && Math.max(...perRound) < D1_QUERY_LIMIT_MS;
  const shown = runs.length <= 12 ? runs : [...runs.slice(0, 5), null, ...runs.slice(-4)];
  const markdown = [
    `${n(before.total)} rows in local D1 (${n(uploads)} completed uploads that ended 100 days ago, each with ${PER_UPLOAD.parts} parts, ` +
      `${PER_UPLOAD.chunks} chunks and ${PER_UPLOAD.spans} chunk spans, plus ${n(KEEP_EACH)} open and ${n(KEEP_EACH)} completing uploads of ${PER_UPLOAD.parts} parts that must stay), ` +
      `seeded in ${fmt(seedMs / 1000)} s with recursive-CTE INSERTs. Then the consumer's real cron (\`getWorker("ingest-consumer").scheduled()\`) with the default ` +
      "settings (PRUNE_BATCH_LIMIT 50,000 rows a run, statements of at most 1,000 rows, at most 100 rounds), run after run until one prunes nothing. " +
      "Rows, rounds, statements and the prune phase's time come from the sweep's own log line; D1 statements per run add the 4 queries of the sweep's other phases.",
    "",
    table(
      [
        "run",
        "rows deleted",
        "of which uploads",
        "rounds",
        "D1 statements",
        "prune ms",
        "ms per round",
        "cron run ms (wall, Node side)",
      ],
      shown.map((run) =>
        run === null
          ? ["...", "", "", "", "", "", "", ""]
          : [
              run.run,
              n(run.deleted),
              n(run.sweep.prunedUploads),
              run.sweep.pruneRounds,
              run.sweep.pruneStatements + OTHER_PHASE_STATEMENTS,
              n(run.sweep.pruneMs),
              fmt(run.sweep.pruneMs / run.sweep.pruneRounds),
              n(Math.round(run.wallMs)),
            ],
      ),
    ),
    "",
    table(
      ["", "uploads", "parts", "chunks", "spans", "tombstones", "total"],
      [
        [
          "before",
          n(before.uploads),
          n(before.parts),
          n(before.chunks),
          n(before.spans),
          n(before.tombstones),
          n(before.total),
        ],
        [
          "after",
          n(after.uploads),
          n(after.parts),
          n(after.chunks),
          n(after.spans),
          n(after.tombstones),
          n(after.total),
        ],
      ],
    ),
    "",
    `Drained in ${working.length} runs (a cron run a minute: ${working.length} minutes), then run ${runs.length} found nothing. ` +
      `Prune time per run: median ${n(Math.round(median(pruneMs)))} ms, max ${n(Math.max(...pruneMs))} ms; ` +
      `D1 statements per run: max ${Math.max(...statements)} of ~${n(D1_QUERIES_PER_INVOCATION)} per invocation; ` +
      `a round (one batch, at most 1,000 rows per statement): max ${fmt(Math.max(...perRound))} ms of D1's ${n(D1_QUERY_LIMIT_MS)} ms per query. ` +
      `The ${n(2 * KEEP_EACH)} open and completing uploads and their ${n(liveBefore.parts)} parts: ${untouched ? "all still there" : `**changed**: ${JSON.stringify(liveAfter)}`}.`,
  ].join("\n");
  return {
    markdown,
    checks: [
      {
        name: "retention backlog: 1,000,000 finished rows drained",
        ok: drained,
        detail: `${working.length} runs; after: ${JSON.stringify(after)}`,
      },
      {
        name: "retention backlog: every run within a cron invocation's D1 limits",
        ok: withinLimits,
        detail: `max ${Math.max(...statements)} statements, max ${fmt(Math.max(...perRound))} ms per batch`,
      },
      {
        name: "retention backlog: live uploads untouched",
        ok: untouched,
        detail: JSON.stringify({ before: liveBefore, after: liveAfter }),
      },
    ],
  };
}

// ---- (c) the migration on a large table ---------------------------------------------------------

/**
 * Migration 0011 on a deployment that already holds 1,000,000 ended uploads (quick: 100,000):
 * its statements that touch every row, the backfill of ended_at and the two partial indexes,
 * timed one by one. (The harness has applied every migration already; the rows are seeded with
 * ended_at unset and the indexes dropped first, which is the state the migration meets.)
 */
async function migration(ctx) {
  const rows = ctx.quick ? 100_000 : 1_000_000;
  const product = await startProduct();
  const db = (await product.server.getWorker("ingest-producer").getEnv()).DB;
  const timings = [];
  try {
    for (let from = 0; from < rows; from += SEED_ROWS) {
      await db
        .prepare(
          `INSERT INTO uploads (upload_id, r2_upload_id, object_key, api, state, stale_after_seconds, created_at,
             updated_at, last_activity_at, expires_at, mode, completed_at)
           WITH RECURSIVE u(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM u WHERE i + 1 < ?2)
           SELECT printf('m%07d', i), 'r2-' || i, printf('migrate/p%d/%07d', i % 100, i), 'native',
             CASE WHEN i % 10 < 8 THEN 'completed' WHEN i % 10 = 8 THEN 'aborted' ELSE 'open' END,
             86400, 1000000 + i, 2000000 + i, 2000000 + i, 3000000 + i, 'parts',
             CASE WHEN i % 10 < 8 THEN 2000000 + i END
           FROM u`,
        )
        .bind(from, Math.min(rows, from + SEED_ROWS))
        .run();
    }
    await db.batch([db.prepare("DROP INDEX uploads_details_to_prune"), db.prepare("DROP INDEX uploads_to_prune")]);
    const steps = [
      [
        "backfill ended_at (UPDATE of the ended rows)",
        `UPDATE uploads SET ended_at = coalesce(completed_at, updated_at)
         WHERE state IN ('completed', 'aborted', 'failed') AND ended_at IS NULL`,
      ],
      [
        "CREATE INDEX uploads_details_to_prune",
        `CREATE INDEX uploads_details_to_prune ON uploads (ended_at, upload_id)
         WHERE ended_at IS NOT NULL AND details_pruned = 0 AND r2_abort_pending = 0`,
      ],
      [
        "CREATE INDEX uploads_to_prune",
        "CREATE INDEX uploads_to_prune ON uploads (ended_at, upload_id) WHERE details_pruned = 1 AND r2_abort_pending = 0",
      ],
    ];
    for (const [name, sql] of steps) {
      const started = performance.now();
      const result = await db.prepare(sql).run();
      const ms = performance.now() - started;
      timings.push([name, n(result.meta.changes ?? 0), fmt(ms, 0)]);
      ctx.log(`  retention migration: ${name}: ${fmt(ms, 0)} ms`);
    }
  } finally {
    await product.close();
  }
  const total = timings.reduce((sum, row) => sum + Number(String(row[2]).replaceAll(",", "")), 0);
  return {
    markdown: [
      `${n(rows)} upload rows (80% completed, 10% aborted, 10% open), then the statements of \`migrations/0011_retention.sql\` ` +
        "that touch every row, one at a time through the D1 binding (the ALTERs, the trigger and the tombstone table are instant):",
      "",
      table(["statement", "rows changed", "ms"], timings),
      "",
      `In all ${n(total)} ms, against D1's 30 s per query: the migration can be applied to a database of this size in one go.`,
    ].join("\n"),
    checks: [
      {
        name: "retention migration: each statement well under 30 s",
        ok: total < D1_QUERY_LIMIT_MS / 2,
        detail: `${n(total)} ms`,
      },
    ],
  };
}

export async function retention(ctx) {
  const a = await soak(ctx);
  const b = await backlog(ctx);
  const c = await migration(ctx);
  return {
    title: "Retention: soak and a 1,000,000-row backlog",
    markdown: [
      "### Soak: rows stay flat while uploads keep coming",
      "",
      a.markdown,
      "",
      "### Backlog: 1,000,000 finished rows",
      "",
      b.markdown,
      "",
      `### Migration 0011 on ${ctx.quick ? "100,000" : "1,000,000"} upload rows`,
      "",
      c.markdown,
    ].join("\n"),
    checks: [...a.checks, ...b.checks, ...c.checks],
  };
}
