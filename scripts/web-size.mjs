// What a browser downloads for the web app, gzip-compressed as the asset server sends it: the
// first visit (index.html and the files it links) and the upload page's lazy chunk (Uppy). Fails
// when the first visit is over its budget. Run after `npm run build:web`:
//
//   npm run size:web
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

/** The first visit is the sign-in form and the console: Uppy must stay out of it. */
const FIRST_VISIT_BUDGET_KIB = 24;
const dist = new URL("../web/dist/", import.meta.url).pathname;

const gzipKiB = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length / 1024;
const rawKiB = (file) => readFileSync(join(dist, file)).length / 1024;

let html;
try {
  html = readFileSync(join(dist, "index.html"), "utf8");
} catch {
  console.error("web/dist/index.html is missing: run `npm run build:web` first");
  process.exit(1);
}
const linked = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((match) => match[1]);
const firstVisit = ["index.html", ...linked];
const lazy = readdirSync(join(dist, "assets"))
  .map((file) => `assets/${file}`)
  .filter((file) => !firstVisit.includes(file));

const rows = [...firstVisit.map((file) => ["first visit", file]), ...lazy.map((file) => ["upload page", file])];
for (const [when, file] of rows) {
  console.log(
    `${when.padEnd(12)} ${file.padEnd(40)} ${rawKiB(file).toFixed(1).padStart(7)} KiB  gzip ${gzipKiB(file).toFixed(1).padStart(6)} KiB`,
  );
}
const sum = (files) => files.reduce((total, file) => total + gzipKiB(file), 0);
const first = sum(firstVisit);
console.log(
  `first visit: ${first.toFixed(1)} KiB gzip (budget ${FIRST_VISIT_BUDGET_KIB} KiB); upload page adds ${sum(lazy).toFixed(1)} KiB`,
);
if (first > FIRST_VISIT_BUDGET_KIB) {
  console.error(`the first visit is ${first.toFixed(1)} KiB gzip, over its ${FIRST_VISIT_BUDGET_KIB} KiB budget`);
  process.exit(1);
}
