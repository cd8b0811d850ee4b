// What a client of the product and of the baseline Worker does, over HTTP.
import { AUTH } from "./harness.mjs";
import { jsonBody, pool, request, until } from "./util.mjs";

let counter = 0;
export const uniqueKey = (prefix) => `bench/${prefix}/${Date.now().toString(36)}-${(counter++).toString(36)}`;

async function expectStatus(response, statuses, what) {
  if (!statuses.includes(response.status)) {
    throw new Error(`${what}: HTTP ${response.status} ${response.text().slice(0, 300)}`);
  }
  return response;
}

// ---- the product (producer Worker) ------------------------------------------------------------

/** A product object read back, with credentials. */
export const getObject = (base, agent, key) => request(`${base}/objects/${key}`, { agent, headers: AUTH });

export async function createUpload(base, agent, body) {
  const json = jsonBody(body);
  const response = await request(`${base}/uploads`, {
    method: "POST",
    agent,
    body: json.body,
    headers: { ...json.headers, ...AUTH },
  });
  await expectStatus(response, [201], "POST /uploads");
  return response.json();
}

export async function putPart(base, agent, uploadId, partNumber, bytes, headers = {}) {
  const response = await request(`${base}/uploads/${encodeURIComponent(uploadId)}/parts/${partNumber}`, {
    method: "PUT",
    agent,
    body: bytes,
    headers: { ...AUTH, ...headers },
  });
  await expectStatus(response, [200], `PUT part ${partNumber}`);
  return response.json();
}

export async function uploadStatus(base, agent, uploadId) {
  const response = await request(`${base}/uploads/${encodeURIComponent(uploadId)}`, { agent, headers: AUTH });
  await expectStatus(response, [200], "GET /uploads/{id}");
  return response.json();
}

/** Polls the status until the upload leaves `open`/`completing`; resolves with the status. */
export function waitSettled(base, agent, uploadId, { timeoutMs = 60_000, intervalMs = 50 } = {}) {
  return until(
    async () => {
      const status = await uploadStatus(base, agent, uploadId);
      return status.state === "open" || status.state === "completing" ? undefined : status;
    },
    { timeoutMs, intervalMs, what: `upload ${uploadId.slice(0, 12)}… to settle` },
  );
}

/**
 * Sends parts 1..count of an upload with `concurrency` requests in flight; `bodyOf(n)` gives
 * part n's bytes. Resolves with the wall time from the first request to the last response.
 */
export async function sendParts(count, concurrency, send) {
  const numbers = Array.from({ length: count }, (_, i) => i + 1);
  const started = performance.now();
  await pool(numbers, concurrency, (n) => send(n));
  return performance.now() - started;
}

// ---- the baseline Worker ---------------------------------------------------------------------

export async function baselineCreate(base, agent, key) {
  const response = await request(`${base}/mpu?key=${encodeURIComponent(key)}`, { method: "POST", agent });
  await expectStatus(response, [200], "baseline create");
  return response.json().uploadId;
}

export async function baselinePut(base, agent, key, uploadId, partNumber, bytes, { tap = false } = {}) {
  const query = `key=${encodeURIComponent(key)}&uploadId=${encodeURIComponent(uploadId)}&part=${partNumber}${tap ? "&tap=1" : ""}`;
  const response = await request(`${base}/mpu?${query}`, { method: "PUT", agent, body: bytes });
  await expectStatus(response, [200], `baseline PUT part ${partNumber}`);
  return response.json();
}

export async function baselineAbort(base, agent, key, uploadId) {
  const query = `key=${encodeURIComponent(key)}&uploadId=${encodeURIComponent(uploadId)}`;
  const response = await request(`${base}/mpu?${query}`, { method: "DELETE", agent });
  await expectStatus(response, [204], "baseline abort");
}
