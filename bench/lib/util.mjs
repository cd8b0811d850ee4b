// Small helpers shared by bench/run.mjs and bench/soak.mjs: HTTP over loopback, statistics,
// markdown tables, process memory from /proc.
import fs from "node:fs";
import http from "node:http";

export const MiB = 1024 * 1024;
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A keep-alive agent that allows `sockets` requests in flight to one origin. */
export const agent = (sockets = 16) => new http.Agent({ keepAlive: true, maxSockets: sockets });

/**
 * One HTTP request with node:http (a body is sent with its Content-Length, never chunked).
 * Resolves with { status, headers, body: Buffer, text(), json() }.
 */
export function request(url, { method = "GET", headers = {}, body, agent: via, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : body;
    const allHeaders = { ...headers };
    if (payload !== undefined) allHeaders["content-length"] = String(payload.byteLength);
    const req = http.request(url, { method, headers: allHeaders, agent: via }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const buffer = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buffer,
          text: () => buffer.toString("utf8"),
          json: () => JSON.parse(buffer.toString("utf8")),
        });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on("error", reject);
    req.end(payload);
  });
}

export const jsonBody = (value) => ({ headers: { "content-type": "application/json" }, body: JSON.stringify(value) });

/** Runs `fn(item)` over items with at most `limit` in flight; results keep their order. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

/** Polls `check()` every `intervalMs` until it returns something other than undefined. */
export async function until(check, { timeoutMs = 30_000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function shuffle(items, random = Math.random) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Deterministic PRNG (mulberry32), so a soak run can be replayed with --seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- statistics --------------------------------------------------------------------------

export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}
export const median = (values) => quantile(values, 0.5);

export function fmt(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  if (typeof value !== "number") return String(value);
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
export const ratio = (a, b) => (b > 0 ? `${fmt(a / b, 2)}x` : "n/a");

/** A markdown table from a header row and data rows. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.map((cell) => String(cell).replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

// ---- processes and memory ------------------------------------------------------------------

function statOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    return { pid: Number(pid), comm, ppid };
  } catch {
    return null;
  }
}

/** workerd processes that are direct children of this Node process. */
export function childWorkerds() {
  const found = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(entry);
    if (stat !== null && stat.ppid === process.pid && stat.comm === "workerd") found.push(stat.pid);
  }
  return found;
}

/** The pid (among `pids`) that owns the listening TCP socket on 127.0.0.1:`port`. */
export function pidListeningOn(port, pids) {
  const inodes = new Set();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const row of text.trim().split("\n").slice(1)) {
      const cols = row.trim().split(/\s+/);
      const localPort = Number.parseInt(cols[1].split(":")[1], 16);
      if (localPort === Number(port) && cols[3] === "0A") inodes.add(cols[9]);
    }
  }
  for (const pid of pids) {
    let fds = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        const match = /^socket:\[(\d+)\]$/.exec(link);
        if (match !== null && inodes.has(match[1])) return pid;
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}

/** { rss, hwm } of a process in bytes (VmRSS and VmHWM, the peak RSS since it started). */
export function memoryOf(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

/** Samples VmRSS of the given pids every `intervalMs` until stopped; returns the peaks. */
export function sampleRss(pids, intervalMs = 20) {
  const peaks = Object.fromEntries(Object.entries(pids).map(([name]) => [name, 0]));
  let peakTotal = 0;
  let samples = 0;
  const take = () => {
    let total = 0;
    for (const [name, pid] of Object.entries(pids)) {
      const { rss } = memoryOf(pid);
      if (Number.isFinite(rss)) {
        peaks[name] = Math.max(peaks[name], rss);
        total += rss;
      }
    }
    peakTotal = Math.max(peakTotal, total);
    samples++;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peaks, peakTotal, samples };
    },
  };
}

/** CPU time (user + system) a process has used so far, in ms (clock ticks of 10 ms). */
export function cpuMsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
