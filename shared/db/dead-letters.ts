import type { KeyRange } from "./listing";

/**
 * The dead letters (migration 0012): messages the pipeline's queue gave up on, kept for an
 * operator to list, replay or discard. A replay moves a row dead -> replaying -> replayed under
 * a claim, so that two replays of one dead letter put its body on the queue once.
 */

export type DeadLetterState = "dead" | "replaying" | "replayed" | "discarded";

export type DeadLetterRow = {
  id: string;
  message_id: string;
  queue: string;
  body: string;
  message_type: string | null;
  upload_id: string | null;
  object_key: string | null;
  attempts: number;
  sent_at: number | null;
  first_seen_at: number;
  last_seen_at: number;
  state: DeadLetterState;
  replay_claim: string | null;
  replay_started_at: number | null;
  replayed_at: number | null;
  discarded_at: number | null;
};

/** A dead message as the dead-letter consumer received it. */
export type DeadMessage = {
  /** A fresh id; kept only when the message is new. */
  id: string;
  messageId: string;
  queue: string;
  /** The body as JSON text. */
  body: string;
  type: string | null;
  uploadId: string | null;
  key: string | null;
  sentAt: number | null;
};

/**
 * D1 takes a bound value of up to ~2 MB; queue messages are up to 128 KB each, so a batch of 100
 * is split into statements of at most this much JSON, all in one db.batch.
 */
const MAX_JSON_PER_STATEMENT = 1024 * 1024;

/**
 * Stores dead messages: a new message id adds a row, one already stored (the dead-letter queue
 * delivered it again) counts one more attempt and moves last_seen_at. A message that names an
 * upload but no key gets the upload's key from D1 (stream events carry only the id).
 */
export function storeDeadLettersStatements(
  db: D1Database,
  messages: DeadMessage[],
  now: number,
): D1PreparedStatement[] {
  const groups: DeadMessage[][] = [];
  let size = Number.POSITIVE_INFINITY;
  for (const message of messages) {
    const bytes = message.body.length + 512;
    if (size + bytes > MAX_JSON_PER_STATEMENT) {
      groups.push([]);
      size = 0;
    }
    size += bytes;
    groups.at(-1)?.push(message);
  }
  return groups.map((group) =>
    db
      .prepare(
        // `WHERE true`: without it SQLite reads ON CONFLICT as part of the SELECT's join.
        `INSERT INTO dead_letters (id, message_id, queue, body, message_type, upload_id, object_key, sent_at,
                                   first_seen_at, last_seen_at)
         SELECT m.value ->> 'id', m.value ->> 'messageId', m.value ->> 'queue', m.value ->> 'body',
                m.value ->> 'type', m.value ->> 'uploadId',
                coalesce(m.value ->> 'key',
                         (SELECT u.object_key FROM uploads u WHERE u.upload_id = m.value ->> 'uploadId')),
                m.value ->> 'sentAt', ?2, ?2
         FROM json_each(?1) AS m WHERE true
         ON CONFLICT (message_id) DO UPDATE SET attempts = attempts + 1,
           last_seen_at = max(last_seen_at, excluded.last_seen_at)`,
      )
      .bind(JSON.stringify(group), now),
  );
}

export type DeadLetterFilter = {
  /** null: every state. */
  states: readonly DeadLetterState[] | null;
  /** The object keys the caller may see; null: every dead letter, those without a key too. */
  keys: KeyRange | null;
};

/** Where the previous page ended. */
export type DeadLetterCursor = { at: number; id: string };

/** A page of dead letters, newest first, by keyset on (first_seen_at, id). */
export async function listDeadLetters(
  db: D1Database,
  filter: DeadLetterFilter,
  cursor: DeadLetterCursor | null,
  limit: number,
): Promise<DeadLetterRow[]> {
  const values: unknown[] = [];
  const add = (value: unknown) => `?${values.push(value)}`;
  const where = ["1"];
  if (filter.states !== null) where.push(`d.state IN (${filter.states.map(add).join(", ")})`);
  if (filter.keys !== null) {
    where.push(`d.object_key >= ${add(filter.keys.from)}`);
    if (filter.keys.to !== null) where.push(`d.object_key < ${add(filter.keys.to)}`);
  }
  if (cursor !== null) where.push(`(d.first_seen_at, d.id) < (${add(cursor.at)}, ${add(cursor.id)})`);
  const { results } = await db
    .prepare(
      `SELECT d.* FROM dead_letters d WHERE ${where.join(" AND ")}
       ORDER BY d.first_seen_at DESC, d.id DESC LIMIT ${add(limit)}`,
    )
    .bind(...values)
    .all<DeadLetterRow>();
  return results;
}

export function getDeadLetter(db: D1Database, id: string): Promise<DeadLetterRow | null> {
  return db.prepare("SELECT * FROM dead_letters WHERE id = ?1").bind(id).first<DeadLetterRow>();
}

/** A replay claim older than this belongs to a Worker that died before it finished. */
export const REPLAY_LEASE_MS = 60_000;

/**
 * Takes the replay claim of a dead letter that is dead, or whose replay claim lapsed. Null when
 * another state holds it (replayed, discarded, a live replay): the caller re-reads the row.
 */
export function claimReplay(db: D1Database, id: string, claim: string, now: number): Promise<DeadLetterRow | null> {
  return db
    .prepare(
      `UPDATE dead_letters SET state = 'replaying', replay_claim = ?2, replay_started_at = ?3
       WHERE id = ?1 AND (state = 'dead' OR (state = 'replaying' AND replay_started_at < ?4))
       RETURNING *`,
    )
    .bind(id, claim, now, now - REPLAY_LEASE_MS)
    .first<DeadLetterRow>();
}

/** The body went back on the queue: replayed, if the claim is still ours. */
export function finishReplay(db: D1Database, id: string, claim: string, now: number): Promise<DeadLetterRow | null> {
  return db
    .prepare(
      `UPDATE dead_letters SET state = 'replayed', replayed_at = ?3, replay_claim = NULL
       WHERE id = ?1 AND replay_claim = ?2 AND state = 'replaying'
       RETURNING *`,
    )
    .bind(id, claim, now)
    .first<DeadLetterRow>();
}

/** The queue refused the body: back to dead, so that the next replay tries again. */
export async function releaseReplay(db: D1Database, id: string, claim: string): Promise<void> {
  await db
    .prepare(
      `UPDATE dead_letters SET state = 'dead', replay_claim = NULL, replay_started_at = NULL
       WHERE id = ?1 AND replay_claim = ?2 AND state = 'replaying'`,
    )
    .bind(id, claim)
    .run();
}

/**
 * Discards a dead letter, keeping its row (and message id) so that a late delivery of the same
 * message does not bring it back. Discarding again changes nothing. Null while a live replay
 * holds it.
 */
export function discardDeadLetter(db: D1Database, id: string, now: number): Promise<DeadLetterRow | null> {
  return db
    .prepare(
      `UPDATE dead_letters SET state = 'discarded', discarded_at = coalesce(discarded_at, ?2), replay_claim = NULL
       WHERE id = ?1 AND (state <> 'replaying' OR replay_started_at < ?3)
       RETURNING *`,
    )
    .bind(id, now, now - REPLAY_LEASE_MS)
    .first<DeadLetterRow>();
}
