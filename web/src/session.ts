// The API key lives in sessionStorage only: it is gone when the tab closes, is never written to
// localStorage or a cookie, and is sent as `Authorization: Bearer` by the client library.
const STORAGE_KEY = "ingest.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
