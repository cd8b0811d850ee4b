// The devices of the fleet run: each opens a chunk stream through the API and sends its plan
// (bench/fleet/plan.mjs) as a device would: up to IN_FLIGHT chunks at a time, a chunk sent again
// with backoff on a 5xx or a network error, never on a 4xx (a 4xx here is a bug: the run fails),
// the final chunk only once every other one was acknowledged. All devices share a fixed number of
// HTTP connections (Slots), as the local runtime cannot take one connection per device.
import { AUTH } from "../lib/harness.mjs";
import { request, sleep } from "../lib/util.mjs";
import { chunkBytes, WINDOW } from "./plan.mjs";

/** Chunks one device has in flight at most. */
export const IN_FLIGHT = 4;
/** Attempts of one request before the device gives up (and the run fails). */
const MAX_ATTEMPTS = 8;
const BACKOFF_BASE_MS = 200;
const BACKOFF_MAX_MS = 5_000;
const REQUEST_TIMEOUT_MS = 60_000;

/** A first-come, first-served limit on requests in flight, shared by every device. */
export class Slots {
  constructor(size) {
    this.free = size;
    this.waiting = [];
  }
  acquire() {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release() {
    const next = this.waiting.shift();
    if (next === undefined) this.free++;
    else next();
  }
}

/** A failure that ends the run: a 4xx, a request that kept failing, a wrong answer. */
export class FleetFailure extends Error {}

/**
 * What all devices share: the base URL, the agent and slots, the run's abort flag, counters.
 * `retries` counts re-sent requests by cause ("HTTP 503 storage_unavailable", "network ECONNRESET").
 */
export function fleetContext({ base, via, slots, pool, jitter }) {
  return {
    base,
    via,
    slots,
    pool,
    jitter,
    failure: null,
    retries: {},
    requests: 0,
    firstChunkAt: null,
    lastChunkAckAt: null,
    chunksAcked: 0,
    /** ms from a chunk request's start (it had a connection) to its 2xx, successful attempts only. */
    chunkRequestMs: [],
    duplicatesSent: 0,
    duplicatesAnswered: 0,
    bytesSent: 0,
  };
}

function errorCode(response) {
  try {
    return response.json()?.error?.code ?? "";
  } catch {
    return "";
  }
}

/**
 * One request with the device's retry policy. `accept` lists the statuses that succeed. `onStart`
 * runs each time the request leaves (after it got a connection); `skip`, asked at that moment
 * (first attempt only), may drop the request instead: `call` then resolves with null.
 */
async function call(fleet, what, options, accept, onStart, skip) {
  for (let attempt = 1; ; attempt++) {
    if (fleet.failure !== null) throw new FleetFailure(`stopped: ${fleet.failure.message}`);
    await fleet.slots.acquire();
    if (attempt === 1 && skip?.() === true) {
      fleet.slots.release();
      return null;
    }
    let response;
    let error;
    try {
      onStart?.();
      fleet.requests++;
      response = await request(options.url, {
        method: options.method,
        headers: { ...AUTH, ...options.headers },
        body: options.body,
        agent: fleet.via,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    } catch (caught) {
      error = caught;
    } finally {
      fleet.slots.release();
    }
    if (response !== undefined && accept.includes(response.status)) return response;
    if (response !== undefined && response.status < 500)
      throw new FleetFailure(`${what}: HTTP ${response.status} ${response.text().slice(0, 300)}`);
    const cause =
      response !== undefined
        ? `HTTP ${response.status} ${errorCode(response)}`.trim()
        : `network ${error?.code ?? error?.message ?? error}`;
    fleet.retries[cause] = (fleet.retries[cause] ?? 0) + 1;
    if (attempt >= MAX_ATTEMPTS) throw new FleetFailure(`${what}: gave up after ${attempt} attempts (${cause})`);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    await sleep(ceiling / 2 + fleet.jitter() * (ceiling / 2));
  }
}

async function putChunk(fleet, device, seq, { final = false, empty = false, duplicate = false, skip } = {}) {
  const body = empty ? Buffer.alloc(0) : chunkBytes(fleet.pool, device.plan, seq);
  let sent = { wall: 0, perf: 0 };
  const response = await call(
    fleet,
    `device ${device.plan.index} chunk ${seq}${final ? " (final)" : ""}`,
    {
      url: `${fleet.base}/uploads/${encodeURIComponent(device.uploadId)}/chunks/${seq}${final ? "?final=1" : ""}`,
      method: "PUT",
      body,
    },
    [200],
    () => {
      sent = { wall: Date.now(), perf: performance.now() };
      fleet.firstChunkAt ??= sent.perf;
      fleet.bytesSent += body.length;
    },
    skip,
  );
  if (response === null) return null;
  const acknowledged = { wall: Date.now(), perf: performance.now() };
  const answer = response.json();
  if (answer.sequence !== seq || answer.size !== body.length)
    throw new FleetFailure(
      `device ${device.plan.index} chunk ${seq}: answered sequence ${answer.sequence}, size ${answer.size} (sent ${body.length} bytes)`,
    );
  fleet.chunksAcked++;
  fleet.lastChunkAckAt = acknowledged.perf;
  fleet.chunkRequestMs.push(acknowledged.perf - sent.perf);
  if (duplicate) fleet.duplicatesSent++;
  if (answer.duplicate === true) fleet.duplicatesAnswered++;
  return { sent, acknowledged };
}

/**
 * Runs one device: creates its stream, sends its chunks, then the final one. `cutAt`
 * (performance.now() value) bounds the run: a device past it finishes the windows it started and
 * ends its stream there with an empty final chunk. Resolves with what it sent.
 */
export async function runDevice(fleet, plan, { key, partSize, cutAt }) {
  const created = await call(
    fleet,
    `device ${plan.index} create`,
    {
      url: `${fleet.base}/uploads`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key, mode: "stream", partSize }),
    },
    [201],
  );
  const device = { plan, uploadId: created.json().uploadId, key };
  // Past `cutAt` the device sends no window it has not started: decided when a request gets a
  // connection, so windows are whole (chunks 1..(lastWindow + 1) * WINDOW go out, no gaps).
  let sentWindow = -1;
  let lastWindow = null;
  const skip = (send) => () => {
    if (lastWindow === null && performance.now() >= cutAt) lastWindow = sentWindow;
    if (lastWindow !== null && send.window > lastWindow) return true;
    sentWindow = Math.max(sentWindow, send.window);
    return false;
  };
  let next = 0;
  const lane = async () => {
    for (;;) {
      const send = plan.sends[next++];
      if (send === undefined) return;
      if (lastWindow !== null && send.window > lastWindow) continue;
      await putChunk(fleet, device, send.seq, { duplicate: send.duplicate, skip: skip(send) });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const chunks = plan.chunks.length;
  // Cut short: chunks 1..(lastWindow + 1) * WINDOW went out; an empty chunk after them ends it
  // (lastWindow -1: nothing went out, the stream is one empty final chunk).
  const through = lastWindow === null ? chunks : Math.min(chunks, (lastWindow + 1) * WINDOW + 1);
  const cut = through < chunks;
  const finalSeq = cut ? through : chunks;
  const final = await putChunk(fleet, device, finalSeq, { final: true, empty: cut });
  return {
    ...device,
    finalSeq,
    through: cut ? finalSeq - 1 : chunks,
    cut,
    finalSent: final.sent,
    finalAck: final.acknowledged,
  };
}
