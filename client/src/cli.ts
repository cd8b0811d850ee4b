#!/usr/bin/env node
import { main } from "./cli/main.js";

const code = await main(process.argv.slice(2));
// Leave as soon as the output is out. Waiting for the event loop to empty costs ~80 ms on
// every run: the file's read-ahead and the runtime's last collection hold it open after the work
// is done (docs/performance.md), and a `--wait` exists to be done when the object is.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write("", done))));
process.exit(code);
