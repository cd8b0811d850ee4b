import { abortError } from "./errors.js";
import type { RetryPolicy } from "./types.js";

export const DEFAULT_RETRY: RetryPolicy = { retries: 6, baseDelayMs: 250, maxDelayMs: 20_000 };

/** 429 and 5xx may succeed later; any other 4xx would be refused again. */
export const isRetryableStatus = (status: number): boolean => status === 429 || status >= 500;

/**
 * Exponential backoff with "equal jitter": half the ceiling is fixed, half random. The fixed
 * half keeps retries of a dropped part from landing right on top of the copy the server may
 * still be finishing; the random half spreads parallel parts that failed together.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Retry-After in milliseconds, from delta-seconds or an HTTP date; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The server's Retry-After is a floor, never shortened by a lucky jitter; both are capped. */
export function retryDelay(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  return Math.min(policy.maxDelayMs, Math.max(retryAfterMs ?? 0, backoffDelay(attempt, policy, random)));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
