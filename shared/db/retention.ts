/**
 * Retention (migration 0011): ended uploads are forgotten in two steps, oldest first, each
 * walking its own partial index so that a round reads only rows it can prune.
 *
 *   1. detail rows (parts, chunks, chunk spans) of uploads that ended before `details`;
 *   2. upload rows whose detail rows are gone and that ended before `uploads`, each leaving a
 *      tombstone; tombstones of uploads that ended before `tombstones` go too.
 *   3. dead letters an operator settled (replayed or discarded) before `uploads`. A dead letter
 *      nobody acted on stays: it is the operator's to decide.
 *
 * Only uploads with `ended_at` set (completed, aborted or failed, stamped by a trigger) and no
 * pending R2 clean-up are ever in either index: an open or completing upload, or one whose
 * multipart upload or staged chunks R2 still holds, is never touched. No statement of a live
 * upload adds detail rows to an ended one (they all check the upload's state), so an upload
 * marked `details_pruned` stays empty, and deleting its row cascades into nothing.
 */

/** Times (ms) before which an upload's details, its row, and its tombstone go. */
export type PruneCutoffs = { details: number; uploads: number; tombstones: number };

/** What one round removed, per table; `marked` counts uploads whose detail rows are now all gone. */
export type PruneRound = {
  parts: number;
  chunks: number;
  spans: number;
  marked: number;
  uploads: number;
  tombstones: number;
  deadLetters: number;
};

/** The statements of a round that remove rows (and so count against a run's row budget). */
export const DELETING_STATEMENTS = 6;

// ?1 details cutoff, ?2 rows per statement, ?3 uploads cutoff, ?4 now, ?5 tombstones cutoff.
// The predicates repeat the indexes' WHERE clauses word for word, which is what lets SQLite
// use a partial index.
const DETAIL_CANDIDATES = `SELECT upload_id FROM uploads
  WHERE ended_at IS NOT NULL AND details_pruned = 0 AND r2_abort_pending = 0 AND ended_at <= ?1
  ORDER BY ended_at, upload_id LIMIT ?2`;

const UPLOAD_CANDIDATES = `SELECT upload_id FROM uploads
  WHERE details_pruned = 1 AND r2_abort_pending = 0 AND ended_at <= ?3
  ORDER BY ended_at, upload_id LIMIT ?2`;

/** Deletes up to ?2 rows of one detail table, walking the oldest candidate uploads. */
const deleteDetails = (table: string, key: string) => `DELETE FROM ${table} WHERE (upload_id, ${key}) IN (
  SELECT d.upload_id, d.${key} FROM (${DETAIL_CANDIDATES}) AS c JOIN ${table} d ON d.upload_id = c.upload_id
  LIMIT ?2)`;

/**
 * The statements of one bounded round, in order: every one touches at most ?2 rows, and each
 * sees the previous one's work, so an upload whose last detail rows go in a round is marked in
 * it, and may lose its row in it too. Exported for the query-plan test; run them through
 * `pruneRoundStatements`.
 */
export const PRUNE_ROUND_SQL = [
  deleteDetails("parts", "part_number"),
  deleteDetails("chunks", "seq"),
  deleteDetails("chunk_spans", "first_seq"),
  `UPDATE uploads SET details_pruned = 1
   WHERE upload_id IN (${DETAIL_CANDIDATES})
     AND NOT EXISTS (SELECT 1 FROM parts WHERE parts.upload_id = uploads.upload_id)
     AND NOT EXISTS (SELECT 1 FROM chunks WHERE chunks.upload_id = uploads.upload_id)
     AND NOT EXISTS (SELECT 1 FROM chunk_spans WHERE chunk_spans.upload_id = uploads.upload_id)`,
  // The tombstones and the deletion pick the same rows: same predicate and order, one transaction.
  `INSERT INTO upload_tombstones (upload_id, object_key, state, ended_at, pruned_at)
   SELECT upload_id, object_key, state, ended_at, ?4 FROM uploads WHERE upload_id IN (${UPLOAD_CANDIDATES})
   ON CONFLICT (upload_id) DO NOTHING`,
  `DELETE FROM uploads WHERE upload_id IN (${UPLOAD_CANDIDATES})`,
  `DELETE FROM upload_tombstones WHERE upload_id IN (
     SELECT upload_id FROM upload_tombstones WHERE ended_at <= ?5 ORDER BY ended_at, upload_id LIMIT ?2)`,
  // Settled after it was first seen, so first_seen_at bounds the walk (dead_letters_by_state_seen);
  // a discarded row kept a late redelivery out, and none comes months later.
  `DELETE FROM dead_letters WHERE id IN (
     SELECT id FROM dead_letters WHERE state IN ('replayed', 'discarded') AND first_seen_at <= ?3
       AND coalesce(replayed_at, discarded_at, first_seen_at) <= ?3 LIMIT ?2)`,
];

/** The values of a round's statements: each takes ?1 up to the highest ?N it names (D1 wants exactly those). */
export function pruneRoundValues(sql: string, cutoffs: PruneCutoffs, rows: number, now: number): number[] {
  const highest = Math.max(...[...sql.matchAll(/\?(\d)/g)].map((match) => Number(match[1])));
  return [cutoffs.details, rows, cutoffs.uploads, now, cutoffs.tombstones].slice(0, highest);
}

/** One round as statements for one `db.batch` (one transaction). */
export function pruneRoundStatements(
  db: D1Database,
  cutoffs: PruneCutoffs,
  rows: number,
  now: number,
): D1PreparedStatement[] {
  return PRUNE_ROUND_SQL.map((sql) => db.prepare(sql).bind(...pruneRoundValues(sql, cutoffs, rows, now)));
}

/** Reads the changes of a round's statements, in the order `pruneRoundStatements` made them. */
export function readPruneRound(results: D1Result[]): PruneRound {
  const changes = (index: number) => results[index]?.meta.changes ?? 0;
  return {
    parts: changes(0),
    chunks: changes(1),
    spans: changes(2),
    marked: changes(3),
    uploads: changes(5),
    tombstones: changes(6),
    deadLetters: changes(7),
  };
}
