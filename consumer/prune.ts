import type { ConsumerConfig } from "../shared/config";
import {
  DELETING_STATEMENTS,
  type PruneCutoffs,
  type PruneRound,
  pruneRoundStatements,
  readPruneRound,
} from "../shared/db/retention";

export type PruneReport = {
  /** Part, chunk and chunk span rows deleted. */
  prunedDetailRows: number;
  /** Upload rows deleted (each left a tombstone). */
  prunedUploads: number;
  expiredTombstones: number;
  /** Replayed and discarded dead letters deleted. */
  prunedDeadLetters: number;
  pruneRounds: number;
  /** D1 statements the phase ran: what counts against an invocation's ~1,000 queries. */
  pruneStatements: number;
  pruneMs: number;
};

/** A run that pruned nothing (also what the sweep reports when the phase failed). */
export function emptyPruneReport(): PruneReport {
  return {
    prunedDetailRows: 0,
    prunedUploads: 0,
    expiredTombstones: 0,
    prunedDeadLetters: 0,
    pruneRounds: 0,
    pruneStatements: 0,
    pruneMs: 0,
  };
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Rows one statement touches at most: a round stays a few milliseconds of D1 time. */
export const ROUND_ROWS = 1000;
/**
 * Rounds one run makes at most. With the statements of a round this is the phase's share of
 * D1's ~1,000 queries per invocation, whatever PRUNE_BATCH_LIMIT says.
 */
export const MAX_ROUNDS = 100;

export function pruneCutoffs(settings: ConsumerConfig, now: number): PruneCutoffs {
  return {
    details: now - settings.retentionDetailDays * DAY_MS,
    uploads: now - settings.retentionUploadDays * DAY_MS,
    tombstones: now - settings.retentionTombstoneDays * DAY_MS,
  };
}

/**
 * Forgets ended uploads (see shared/db/retention.ts) in rounds of one transaction each, oldest
 * first, until nothing is left to prune or the run's row budget (PRUNE_BATCH_LIMIT) is spent.
 * Every statement of a round may delete up to its row limit, so the limit is the budget left
 * divided among them: a run never deletes more than the budget. As the budget runs low rounds
 * shrink; below a tenth of the first round's size the rest is left to the next run.
 */
export async function prune(db: D1Database, settings: ConsumerConfig, now: number): Promise<PruneReport> {
  const started = Date.now();
  const cutoffs = pruneCutoffs(settings, now);
  const report = emptyPruneReport();
  let budget = settings.pruneBatchLimit;
  const roundRows = () => Math.min(ROUND_ROWS, Math.floor(budget / DELETING_STATEMENTS));
  const smallest = Math.max(1, Math.floor(roundRows() / 10));
  while (report.pruneRounds < MAX_ROUNDS && roundRows() >= smallest) {
    const statements = pruneRoundStatements(db, cutoffs, roundRows(), now);
    const round = readPruneRound(await db.batch(statements));
    report.pruneRounds += 1;
    report.pruneStatements += statements.length;
    const deleted = deletedBy(round);
    report.prunedDetailRows += round.parts + round.chunks + round.spans;
    report.prunedUploads += round.uploads;
    report.expiredTombstones += round.tombstones;
    report.prunedDeadLetters += round.deadLetters;
    budget -= deleted;
    // Marks without deletions: the marked uploads' rows are younger than their own cutoff.
    if (deleted === 0 && round.marked === 0) break;
  }
  report.pruneMs = Date.now() - started;
  return report;
}

function deletedBy(round: PruneRound): number {
  return round.parts + round.chunks + round.spans + round.uploads + round.tombstones + round.deadLetters;
}
