import { abortQuietly } from "../shared/abort";
import { claimReady, finishClaims, leaseCutoff } from "../shared/completion";
import { mapWithConcurrency } from "../shared/concurrency";
import type { ConsumerConfig } from "../shared/config";
import { listIdleStreams } from "../shared/db/streams";
import {
  claimStaleUploads,
  confirmR2AbortsStatement,
  listPendingR2Aborts,
  listStalledCompletions,
} from "../shared/db/uploads";
import { recordAborted, recordSweep } from "../shared/metrics";
import { announce, notificationFor } from "../shared/notifications";
import { emptyPruneReport, type PruneReport, prune } from "./prune";
import { advanceStream, type StreamBindings } from "./streams";

export type SweepBindings = StreamBindings;

export type SweepReport = {
  staleAborted: number;
  r2AbortsConfirmed: number;
  r2AbortsPending: number;
  completionsRetried: number;
  streamsAdvanced: number;
} & PruneReport;

const R2_CONCURRENCY = 10;
const STREAM_CONCURRENCY = 3;

/**
 * The cron's work, bounded by the batch limit so a backlog drains over several runs: abort
 * uploads whose stale window passed, retry R2 clean-ups that did not go through, take over
 * completions whose claim outlived its lease, advance streams nobody is advancing, and forget
 * uploads that ended longer ago than the retention windows.
 */
export async function sweep(bindings: SweepBindings, settings: ConsumerConfig, now: number): Promise<SweepReport> {
  const { DB: db, BUCKET: bucket } = bindings;
  const startedAt = Date.now();
  const limit = settings.sweepBatchLimit;
  const report: SweepReport = {
    staleAborted: 0,
    r2AbortsConfirmed: 0,
    r2AbortsPending: 0,
    completionsRetried: 0,
    streamsAdvanced: 0,
    ...emptyPruneReport(),
  };
  const errors: unknown[] = [];
  // Each phase runs even when an earlier one failed: one broken dependency should not stop the rest.
  const phase = async (work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      errors.push(error);
    }
  };

  await phase(async () => {
    const stale = await claimStaleUploads(db, now, limit);
    report.staleAborted = stale.length;
    for (const row of stale) recordAborted(bindings, row, "stale", now);
    await announce(
      bindings.UPLOAD_EVENTS,
      stale.map((row) => notificationFor({ ...row, outcome: "aborted", reason: "stale" }, now)),
    );
  });
  await phase(async () => {
    const pending = await listPendingR2Aborts(db, limit);
    const aborted = await mapWithConcurrency(pending, R2_CONCURRENCY, async (row) =>
      (await abortQuietly(bucket, row)) ? row.upload_id : null,
    );
    const confirmed = aborted.filter((id): id is string => id !== null);
    if (confirmed.length > 0) await confirmR2AbortsStatement(db, confirmed).run();
    report.r2AbortsConfirmed = confirmed.length;
    report.r2AbortsPending = pending.length - confirmed.length;
  });
  await phase(async () => {
    const stalled = await listStalledCompletions(db, leaseCutoff(now), limit);
    if (stalled.length === 0) return;
    const claims = await claimReady(db, stalled, now);
    await finishClaims(bindings, claims);
    report.completionsRetried = claims.length;
  });

  await phase(async () => {
    // Streams whose events were all used up (retries exhausted, or a lease holder that died).
    const idle = await listIdleStreams(db, now, limit);
    await mapWithConcurrency(idle, STREAM_CONCURRENCY, (uploadId) => advanceStream(bindings, uploadId, settings, now));
    report.streamsAdvanced = idle.length;
  });

  // Last: retention (consumer/prune.ts) only ever takes uploads the phases above are done with.
  await phase(async () => {
    Object.assign(report, await prune(db, settings, now));
  });

  const prunedRows =
    report.prunedDetailRows + report.prunedUploads + report.expiredTombstones + report.prunedDeadLetters;
  recordSweep(bindings, { ...report, ms: Date.now() - startedAt, failedPhases: errors.length, prunedRows });
  if (errors.length > 0) throw new AggregateError(errors, `sweep finished with ${errors.length} failed phase(s)`);
  return report;
}
