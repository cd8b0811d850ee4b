// What each device of the fleet run sends, decided up front from one seed (so `--seed` replays a
// run's traffic; timing, and so retries, differ from run to run).
//
// A device streams chunks of random size into one object: chunk bytes are slices of the run's
// random pool (offset and size per chunk), so the bytes a device meant to send are known without
// a copy. Its non-final chunks are sent with their sequence numbers shuffled within windows of
// WINDOW; a few are sent twice (the second send a few positions later, the same bytes); the final
// chunk goes last, alone.
import { createHash } from "node:crypto";
import { prng } from "../lib/util.mjs";

/** Sequence numbers are shuffled within consecutive windows of this many chunks. */
export const WINDOW = 8;

/** A PRNG of its own per device, so a device's plan does not depend on how many devices run. */
function deviceRandom(seed, index) {
  return prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

const between = (random, low, high) => low + Math.floor(random() * (high - low + 1));

function shuffleInPlace(items, random) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/**
 * One device's plan: `chunks[seq - 1] = { offset, size }` for seq 1..N, and `sends`, the order of
 * the non-final sends: `{ seq, window, duplicate }` (`window` = the window of the chunk's
 * sequence number, (seq - 1) / WINDOW rounded down).
 */
export function planDevice({ seed, index, poolSize, bytes, chunkSize, duplicateRate }) {
  const random = deviceRandom(seed, index);
  const budget = between(random, bytes.min, bytes.max);
  const chunks = [];
  let total = 0;
  while (total < budget) {
    const size = between(random, chunkSize.min, chunkSize.max);
    chunks.push({ offset: Math.floor(random() * (poolSize - size)), size });
    total += size;
  }
  const last = chunks.length; // the final chunk
  const order = [];
  for (let start = 1; start < last; start += WINDOW) {
    const window = Array.from({ length: Math.min(WINDOW, last - start) }, (_, i) => start + i);
    shuffleInPlace(window, random);
    order.push(...window);
  }
  // Each non-final chunk is sent a second time with probability duplicateRate, 1..WINDOW sends
  // after its first (possibly while the first is still in flight).
  const repeats = [];
  order.forEach((seq, position) => {
    if (random() < duplicateRate) repeats.push({ seq, at: position + between(random, 1, WINDOW) });
  });
  const sends = [];
  order.forEach((seq, position) => {
    sends.push({ seq, window: Math.floor((seq - 1) / WINDOW), duplicate: false });
    for (const repeat of repeats)
      if (repeat.at === position + 1 || (position === order.length - 1 && repeat.at > position))
        sends.push({ seq: repeat.seq, window: Math.floor((repeat.seq - 1) / WINDOW), duplicate: true });
  });
  return { index, chunks, sends, bytes: total };
}

/** The plan of every device of a run. */
export function planFleet({ seed, devices, poolSize, bytes, chunkSize, duplicateRate }) {
  return Array.from({ length: devices }, (_, index) =>
    planDevice({ seed, index, poolSize, bytes, chunkSize, duplicateRate }),
  );
}

/** The bytes of chunk `seq` (1-based) of a plan. */
export function chunkBytes(pool, plan, seq) {
  const { offset, size } = plan.chunks[seq - 1];
  return pool.subarray(offset, offset + size);
}

/** SHA-256 (hex) and length of chunks 1..through of a plan, in sequence order, each once. */
export function expectedObject(pool, plan, through) {
  const hash = createHash("sha256");
  let size = 0;
  for (let seq = 1; seq <= through; seq++) {
    const bytes = chunkBytes(pool, plan, seq);
    hash.update(bytes);
    size += bytes.length;
  }
  return { sha256: hash.digest("hex"), size };
}
