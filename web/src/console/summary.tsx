import type { UploadSummary } from "../api";
import { formatAge, formatBytes } from "../format";
import { uploadHref } from "../route";
import { StateBadge } from "../state-badge";
import { STATES } from "./query";

/** The counts at the top of the console, from GET /uploads/summary. */
export function Summary({ summary, now }: { summary: UploadSummary | undefined; now: number }) {
  const count = (value: number | undefined) => (value === undefined ? "…" : value.toLocaleString("en-US"));
  // What ended in the last 24 hours (servers from before issue 14 do not send it).
  const recent = (summary as Partial<UploadSummary> | undefined)?.recent;
  // Last part to completed, p95 over the newest completions.
  const latency = recent?.completionLatencyMs;
  return (
    <section aria-label="Summary" class="summary">
      <dl>
        {STATES.map((state) => (
          <div key={state} class="tile">
            <dt>
              <StateBadge state={state} label={state[0]?.toUpperCase() + state.slice(1)} />
            </dt>
            <dd>{count(summary?.byState[state])}</dd>
          </div>
        ))}
        <div class="tile">
          <dt>Bytes in flight</dt>
          <dd>{summary === undefined ? "…" : formatBytes(summary.bytesInFlight)}</dd>
        </div>
        <div class="tile">
          <dt>Expiring within the hour</dt>
          <dd>{count(summary?.expiringWithinHour)}</dd>
        </div>
        <div class="tile">
          <dt>Completed in 24 h</dt>
          <dd>
            {count(recent?.completed)}
            {recent === undefined ? null : <span class="detail">{formatBytes(recent.bytesCompleted)}</span>}
          </dd>
        </div>
        <div class="tile">
          <dt>Completion p95</dt>
          <dd>
            {recent === undefined ? "…" : latency === null ? "none" : `${latency?.p95.toLocaleString("en-US")} ms`}
          </dd>
        </div>
        <div class="tile wide">
          <dt>Oldest open upload</dt>
          <dd>
            {summary === undefined ? (
              "…"
            ) : summary.oldestOpen === null ? (
              "none"
            ) : (
              <>
                <a href={uploadHref(summary.oldestOpen.uploadId)}>{summary.oldestOpen.key}</a>{" "}
                <span class="muted">({formatAge(summary.oldestOpen.createdAt, now)} old)</span>
              </>
            )}
          </dd>
        </div>
      </dl>
    </section>
  );
}
