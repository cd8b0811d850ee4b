// Fires the consumer's cron once against `npm run dev`. `wrangler dev` with two configs only
// routes /cdn-cgi/local/scheduled to the first Worker (the producer), so this goes through the
// local explorer API, which can target a Worker by name.
//
//   npm run cron                 # as if the cron ran now
//   npm run cron -- 25h          # as if it ran 25 hours from now (sweeps uploads stale by then)
const base = process.env.INGEST_URL ?? "http://127.0.0.1:8787";
const ahead = process.argv[2] ?? "0";
const match = /^(\d+)([smhd]?)$/.exec(ahead);
if (match === null) {
  console.error(`usage: npm run cron -- [offset like 90s, 30m, 25h, 2d]; got ${ahead}`);
  process.exit(2);
}
const unit = { "": 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2]];
const scheduledTime = Date.now() + Number(match[1]) * unit;

const response = await fetch(`${base}/cdn-cgi/local/explorer/api/local/scheduled?worker=ingest-consumer`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ cron: "* * * * *", scheduled_time: scheduledTime }),
});
const body = await response.text();
console.log(`${response.status} ${body}`);
process.exit(response.ok ? 0 : 1);
