import { useCallback, useEffect, useState } from "preact/hooks";
import { type Api, describeError, isUnauthorized, type UploadList } from "../api";
import { usePoll } from "../use-poll";
import { Filters } from "./filters";
import { type FilterValues, NO_FILTERS, toQuery } from "./query";
import { Summary } from "./summary";
import { UploadTable } from "./upload-table";

const REFRESH_MS = 2_000;
/**
 * The summary counts every visible upload (~0.25 s of D1 time at 1,000,000 rows, see
 * docs/performance.md), so it refreshes less often than the list, which seeks an index.
 */
const SUMMARY_REFRESH_MS = 10_000;
const PAGE = 50;
/** GET /uploads's largest page: a live refresh reloads what is on screen in one request. */
const MAX_PAGE = 200;

export function ConsolePage({ api, onUnauthorized }: { api: Api; onUnauthorized: () => void }) {
  const [filters, setFilters] = useState<FilterValues>(NO_FILTERS);
  // How many rows the live refresh reloads; "Load more" pages past it with the cursor.
  const [shown, setShown] = useState(PAGE);
  const [more, setMore] = useState<UploadList | null>(null);
  const onFilters = useCallback((next: FilterValues) => {
    setFilters(next);
    setShown(PAGE);
    setMore(null);
  }, []);

  const summary = usePoll(() => api.summary(), SUMMARY_REFRESH_MS, [api]);
  const list = usePoll(() => api.list({ ...toQuery(filters), limit: Math.min(shown, MAX_PAGE) }), REFRESH_MS, [
    api,
    filters,
    shown,
  ]);
  const failure = list.error ?? summary.error;
  useEffect(() => {
    if (isUnauthorized(failure)) onUnauthorized();
  }, [failure, onUnauthorized]);

  const loadMore = async () => {
    const cursor = more?.nextCursor ?? list.data?.nextCursor;
    if (cursor === null || cursor === undefined) return;
    if (shown < MAX_PAGE && more === null) {
      setShown(Math.min(shown + PAGE, MAX_PAGE));
      return;
    }
    const page = await api.list({ ...toQuery(filters), limit: PAGE, cursor });
    setMore({ items: [...(more?.items ?? []), ...page.items], nextCursor: page.nextCursor });
  };

  const now = Date.now();
  // Rows pushed past the live page by new uploads can also be on a "Load more" page: show them once.
  const seen = new Set<string>();
  const items = [...(list.data?.items ?? []), ...(more?.items ?? [])].filter(
    (item) => !seen.has(item.uploadId) && seen.add(item.uploadId),
  );
  const hasMore = (more === null ? list.data?.nextCursor : more.nextCursor) != null;

  return (
    <>
      <h1>Uploads</h1>
      <Summary summary={summary.data} now={now} />
      <Filters value={filters} onChange={onFilters} />
      {failure !== undefined && !isUnauthorized(failure) && (
        <p role="alert" class="error">
          Could not refresh: {describeError(failure)}
        </p>
      )}
      {list.data === undefined ? (
        <p>Loading uploads…</p>
      ) : items.length === 0 ? (
        <p class="empty">No uploads match these filters.</p>
      ) : (
        <UploadTable items={items} now={now} />
      )}
      {hasMore && (
        <button type="button" onClick={loadMore}>
          Load more
        </button>
      )}
      <p class="muted small" aria-hidden="true">
        The list refreshes every {REFRESH_MS / 1000} s, the counts every {SUMMARY_REFRESH_MS / 1000} s.
      </p>
    </>
  );
}
