/**
 * Runs `work` on items pulled one at a time from `next`, at most `limit` at once. An item is
 * only pulled when a worker is free, so at most `limit` items exist at any moment: that is
 * what bounds memory to concurrency x partSize. The first failure stops the pulling, aborts
 * `stop` so in-flight work ends early, and is rethrown once every worker has settled.
 */
export async function runPool<T>(
  next: () => Promise<T | undefined>,
  limit: number,
  work: (item: T) => Promise<void>,
  stop: AbortController,
): Promise<void> {
  let failure: { error: unknown } | undefined;
  let pulling: Promise<unknown> = Promise.resolve();
  // Pulls are chained so that a source read in order (a stream) is never read by two workers.
  const pull = (): Promise<T | undefined> => {
    const item = pulling.then(() => (failure === undefined && !stop.signal.aborted ? next() : undefined));
    pulling = item.catch(() => undefined);
    return item;
  };
  // A stream that stalls (a terminal's stdin, say) must not keep an abort waiting for its next chunk.
  const stopped = new Promise<undefined>((resolve) => {
    if (stop.signal.aborted) resolve(undefined);
    stop.signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
  const worker = async () => {
    for (;;) {
      const item = await Promise.race([pull(), stopped]);
      if (item === undefined) return;
      await work(item);
    }
  };
  await Promise.all(
    Array.from({ length: limit }, () =>
      worker().catch((error: unknown) => {
        if (failure === undefined) {
          failure = { error };
          stop.abort(error);
        }
      }),
    ),
  );
  if (failure !== undefined) throw failure.error;
}
