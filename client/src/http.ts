import { abortError, IngestError } from "./errors.js";
import { DEFAULT_RETRY, isRetryableStatus, parseRetryAfter, retryDelay, sleep } from "./retry.js";
import type { RetryEvent, RetryPolicy } from "./types.js";

export interface Transport {
  /** Base URL, always ending in "/" so that paths resolve below any base path it has. */
  base: URL;
  headers: Record<string, string>;
  fetch: typeof fetch;
  retry: RetryPolicy;
  signal: AbortSignal | undefined;
  onRetry: ((event: RetryEvent) => void) | undefined;
  attemptTimeoutMs: number;
}

export interface TransportOptions {
  endpoint: string | URL;
  credentials?: { token: string } | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  signal?: AbortSignal | undefined;
  fetch?: typeof fetch | undefined;
  onRetry?: ((event: RetryEvent) => void) | undefined;
  /**
   * Longest one attempt of one request may take, body and answer included, before it is
   * abandoned and retried like a dropped connection. Default 5 minutes: a stalled connection
   * must not hang an upload, yet an 8 MiB part over a slow link may need minutes.
   */
  attemptTimeoutMs?: number | undefined;
}

/** Where and how requests go; `defaults` fills in whatever `options.retry` leaves out. */
export function createTransport(options: TransportOptions, defaults: RetryPolicy = DEFAULT_RETRY): Transport {
  const base = new URL(String(options.endpoint));
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const headers: Record<string, string> = {};
  if (options.credentials !== undefined) headers.authorization = `Bearer ${options.credentials.token}`;
  return {
    base,
    headers,
    // Bound late so that a fetch patched after the client was created is still the one used.
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    retry: { ...defaults, ...options.retry },
    signal: options.signal,
    onRetry: options.onRetry,
    attemptTimeoutMs: options.attemptTimeoutMs ?? 5 * 60_000,
  };
}

export interface RequestSpec {
  method: string;
  /** Relative to the endpoint, without a leading "/". */
  path: string;
  /** Called once per attempt, because a streamed body can only be read once. */
  body?: () => BodyInit;
  headers?: Record<string, string>;
  /** Names the request in retry events and error messages. */
  label: string;
}

// Node's fetch needs `duplex` to send a stream; the DOM typings do not know the field yet.
type StreamingInit = RequestInit & { duplex?: "half" };

/**
 * One request, retried on network errors, 429 and 5xx with backoff (Retry-After honoured).
 * Resolves with a 2xx response; anything else becomes an IngestError carrying the server's
 * error code and message.
 */
export async function send(transport: Transport, spec: RequestSpec): Promise<Response> {
  const url = new URL(spec.path, transport.base);
  const { signal } = transport;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortError(signal.reason);
    const body = spec.body?.();
    const timeout = AbortSignal.timeout(transport.attemptTimeoutMs);
    const init: StreamingInit = {
      method: spec.method,
      headers: { ...transport.headers, ...spec.headers },
      signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    };
    if (body !== undefined) {
      init.body = body;
      if (body instanceof ReadableStream) init.duplex = "half";
    }
    let response: Response;
    try {
      response = await transport.fetch(url, init);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal.reason);
      const reason = timeout.aborted
        ? `no answer within ${transport.attemptTimeoutMs / 1000} s`
        : describeNetworkError(error);
      if (attempt >= transport.retry.retries) {
        throw new IngestError("network_error", `${spec.label}: ${reason}`, { cause: error });
      }
      await pause(transport, spec, attempt, reason, undefined);
      continue;
    }
    if (response.ok) return response;
    if (isRetryableStatus(response.status) && attempt < transport.retry.retries) {
      await response.body?.cancel().catch(() => undefined);
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      await pause(transport, spec, attempt, `HTTP ${response.status}`, retryAfter);
      continue;
    }
    throw await refusal(response, spec.label);
  }
}

async function pause(
  transport: Transport,
  spec: RequestSpec,
  attempt: number,
  reason: string,
  retryAfterMs: number | undefined,
) {
  const delayMs = retryDelay(attempt, transport.retry, retryAfterMs);
  transport.onRetry?.({ request: spec.label, attempt: attempt + 1, delayMs, reason });
  await sleep(delayMs, transport.signal);
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Node's fetch reports "fetch failed" and keeps the useful part (ECONNRESET, ...) in `cause`.
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message}${cause}`;
}

/** Turns a non-2xx answer into an IngestError with the server's own code and message. */
export async function refusal(response: Response, label: string): Promise<IngestError> {
  const text = await response.text().catch(() => "");
  let code = `http_${response.status}`;
  let message = text.slice(0, 200) || response.statusText || "no details";
  try {
    const parsed: unknown = JSON.parse(text);
    const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
    if (typeof error?.code === "string") code = error.code;
    if (typeof error?.message === "string") message = error.message;
  } catch {
    // Not the API's JSON error shape (a proxy's page, say): keep the raw text.
  }
  return new IngestError(code, `${label}: ${message} (HTTP ${response.status})`, { status: response.status });
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
