// 4. Consumer tally cost: events/s and D1 round trips per queue batch, for batches of 1, 10 and
// 100 events, driving the real tallyBatch in-process (bench/tally) with counting D1 and R2
// wrappers; the baseline is a consumer that makes one trivial D1 round trip per batch.
import { CONFIGS, startHarness } from "../lib/harness.mjs";
import { fmt, median, ratio, request, table } from "../lib/util.mjs";

const SIZES = [1, 10, 100];

function batchesFor(size, quick) {
  const full = { 1: 300, 10: 100, 100: 30 };
  const small = { 1: 100, 10: 30, 100: 10 };
  return (quick ? small : full)[size];
}

export async function tallyCost(ctx) {
  const runs = ctx.runs ?? (ctx.quick ? 1 : 3);
  const harness = await startHarness([{ configPath: CONFIGS.tally }], { migrate: ["bench-tally"] });
  const results = {};
  try {
    const call = async (size, batches) => {
      const response = await request(`${harness.base}/run?size=${size}&batches=${batches}`, {
        method: "POST",
        timeoutMs: 300_000,
      });
      if (response.status !== 200)
        throw new Error(`tally bench size ${size}: HTTP ${response.status} ${response.text().slice(0, 500)}`);
      return response.json();
    };
    await call(10, 2); // warm-up
    for (let run = 0; run < runs; run++) {
      for (const size of SIZES) {
        // One request runs the three modes interleaved batch by batch (see bench/tally/index.ts).
        for (const report of await call(size, batchesFor(size, ctx.quick))) {
          const cell = `${report.mode}/${size}`;
          results[cell] ??= [];
          results[cell].push(report);
          ctx.log(
            `  tally ${report.mode} size ${size}: ${fmt(report.events / (report.elapsedMs / 1000), 0)} events/s, round trips ${report.roundTripsPerBatch.min}-${report.roundTripsPerBatch.max}`,
          );
        }
      }
    }
  } finally {
    await harness.close();
  }

  const eventsPerSecond = (mode, size) =>
    median(results[`${mode}/${size}`].map((r) => r.events / (r.elapsedMs / 1000)));
  const msPerBatch = (mode, size) => median(results[`${mode}/${size}`].map((r) => r.elapsedMs / r.batches));
  const spread = (mode, size, field) => {
    const all = results[`${mode}/${size}`];
    const min = Math.min(...all.map((r) => r[field].min));
    const max = Math.max(...all.map((r) => r[field].max));
    return min === max ? String(min) : `${min}–${max}`;
  };
  const rows = [];
  for (const mode of ["tally", "complete"]) {
    for (const size of SIZES) {
      const last = results[`${mode}/${size}`].at(-1);
      rows.push([
        mode,
        size,
        fmt(eventsPerSecond(mode, size), 0),
        fmt(msPerBatch(mode, size), 1),
        spread(mode, size, "roundTripsPerBatch"),
        spread(mode, size, "batchCallsPerBatch"),
        spread(mode, size, "statementsPerBatch"),
        spread(mode, size, "r2CompletesPerBatch"),
        fmt(eventsPerSecond("floor", size), 0),
        ratio(eventsPerSecond(mode, size), eventsPerSecond("floor", size)),
        `${last.acks}/${last.retries}${mode === "complete" ? `, ${last.completedUploads}/${last.events} completed` : ""}`,
      ]);
    }
  }

  const checks = [];
  for (const mode of ["tally", "complete"]) {
    const trips = SIZES.flatMap((size) =>
      results[`${mode}/${size}`].flatMap((r) => [r.roundTripsPerBatch.min, r.roundTripsPerBatch.max]),
    );
    checks.push({
      name: `D1 round trips per batch constant from 1 to 100 events (${mode})`,
      ok: Math.min(...trips) === Math.max(...trips),
      detail: `${Math.min(...trips)}–${Math.max(...trips)} round trips per batch`,
    });
  }
  const completeRuns = SIZES.flatMap((size) => results[`complete/${size}`]);
  checks.push({
    name: "every upload completed by the complete-mode batches",
    ok: completeRuns.every((r) => r.completedUploads === r.events && r.retries === 0),
    detail: completeRuns.map((r) => `${r.completedUploads}/${r.events}`).join(", "),
  });

  const markdown = [
    `The real \`tallyBatch\` (consumer/tally.ts) called in-process by bench/tally with hand-built queue batches, local D1 and R2 behind counting wrappers; ${runs} run(s), median. ` +
      `Batches per run: ${SIZES.map((s) => `${batchesFor(s, ctx.quick)} of ${s}`).join(", ")}. ` +
      "**tally**: events for parts of uploads expecting 10,000 parts (10 events per upload per batch), nothing completes. " +
      "**complete**: every event is the only part of a 1-part upload, so each event completes an upload in R2 within its batch. " +
      "**floor** (baseline): one `db.batch([SELECT 1])` per batch, then ack. " +
      "Round trips = `db.batch()` calls + statements run on their own (`first/run/all/raw`); statements = all statements sent. Set-up is not timed. The three modes run interleaved batch by batch in one request.",
    "",
    table(
      [
        "mode",
        "events/batch",
        "events/s",
        "ms/batch",
        "D1 round trips/batch",
        "db.batch calls/batch",
        "statements/batch",
        "R2 completes/batch",
        "floor events/s",
        "ratio to floor",
        "acks/retries",
      ],
      rows,
    ),
  ].join("\n");
  return { title: "4. Consumer tally cost per queue batch", markdown, checks };
}
