import { useEffect, useRef, useState } from "preact/hooks";

export type Polled<T> = { data: T | undefined; error: unknown; refresh: () => void };

/**
 * Loads `load()` now and again every `intervalMs` while the tab is visible (a hidden tab costs the
 * API nothing), and at once when the tab comes back or `deps` change. An answer that arrives after
 * a newer request started is dropped, so a slow refresh never overwrites fresher filters.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number | null, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const refresh = () => {
    const mine = ++generation.current;
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(undefined);
      },
      (reason: unknown) => {
        if (mine === generation.current) setError(reason);
      },
    );
  };

  useEffect(() => {
    refresh();
    if (intervalMs === null) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") refresh();
    }, intervalMs);
    const onVisible = () => document.visibilityState === "visible" && refresh();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [intervalMs, ...deps]);

  return { data, error, refresh };
}
