import { abortQuietly, claimReady, finishClaims } from "../shared/completion";
import { mapWithConcurrency } from "../shared/concurrency";
import type { ConsumerConfig } from "../shared/config";
import {
  claimStaleUploads,
  confirmR2AbortsStatement,
  listPendingR2Aborts,
  listStalledCompletions,
} from "../shared/db/uploads";

export type SweepBindings = { DB: D1Database; BUCKET: R2Bucket };

export type SweepReport = {
  staleAborted: number;
  r2AbortsConfirmed: number;
  r2AbortsPending: number;
  completionsRetried: number;
};

const R2_CONCURRENCY = 10;

/**
 * The cron's work, bounded by the batch limit so a backlog drains over several runs: abort
 * uploads whose stale window passed, retry R2 aborts that did not go through, and take over
 * completions whose claim outlived its lease.
 */
export async function sweep(bindings: SweepBindings, settings: ConsumerConfig, now: number): Promise<SweepReport> {
  const { DB: db, BUCKET: bucket } = bindings;
  const limit = settings.sweepBatchLimit;

  const stale = await claimStaleUploads(db, now, limit);
  const pending = await listPendingR2Aborts(db, limit);
  const aborted = await mapWithConcurrency(pending, R2_CONCURRENCY, async (row) =>
    (await abortQuietly(bucket, row)) ? row.upload_id : null,
  );
  const confirmed = aborted.filter((id): id is string => id !== null);
  if (confirmed.length > 0) await confirmR2AbortsStatement(db, confirmed).run();

  const leaseCutoff = now - settings.completionLeaseMs;
  const stalled = await listStalledCompletions(db, leaseCutoff, limit);
  let completionsRetried = 0;
  if (stalled.length > 0) {
    const claims = await claimReady(db, stalled, now, leaseCutoff);
    await finishClaims(db, bucket, claims, { maxAttempts: settings.maxCompleteAttempts });
    completionsRetried = claims.length;
  }

  return {
    staleAborted: stale.length,
    r2AbortsConfirmed: confirmed.length,
    r2AbortsPending: pending.length - confirmed.length,
    completionsRetried,
  };
}
