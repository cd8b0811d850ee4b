#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";
import { main } from "./cli/main.js";

// Node's fetch parses HTTP with WebAssembly (undici's llhttp). V8 recompiles its busy functions
// with its optimizing compiler on a background thread, and exiting waits for that work to end:
// ~100 ms after every upload on 2 cores, long after the answers it would have sped up were read
// (docs/performance.md). The baseline compiler's code parses a CLI's answers, and downloads, as
// fast. Set before the first request compiles the parser; Node 20 and 22 both know the flag.
setFlagsFromString("--liftoff-only");

const code = await main(process.argv.slice(2));
// Leave as soon as the output is out. Waiting for the event loop to empty costs ~80 ms on
// every run: the file's read-ahead and the runtime's last collection hold it open after the work
// is done (docs/performance.md), and a `--wait` exists to be done when the object is.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write("", done))));
process.exit(code);
