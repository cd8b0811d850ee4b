import {
  claimReplay,
  type DeadLetterCursor,
  type DeadLetterRow,
  type DeadLetterState,
  discardDeadLetter,
  finishReplay,
  getDeadLetter,
  listDeadLetters,
  releaseReplay,
} from "../../shared/db/dead-letters";
import { prefixRange } from "../../shared/db/listing";
import {
  DEFAULT_DEAD_LETTER_LIMIT,
  type DeadLetter,
  type DeadLetterList,
  type DeadLetterReplay,
} from "../../shared/dead-letter-schemas";
import { fromBase64, toBase64Url } from "../../shared/encoding";
import { errors } from "../../shared/errors";
import { errorMessage } from "../../shared/r2-errors";
import type { Caller } from "../auth/middleware";

/**
 * Dead letters for operators. A prefix-limited API key sees and acts on the dead letters of its
 * own keys only; one without a known key (a health ping, a message that named no upload) is for
 * unrestricted keys.
 */

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

/** The caller's key prefix; "" sees everything. */
const ownPrefix = (caller: Caller) => (caller.kind === "key" ? caller.key.prefix : "");

export type DeadLetterQuery = { state?: string; limit?: number; cursor?: string };

/** One page of dead letters, newest first, and the cursor of the next. */
export async function deadLetterPage(db: D1Database, caller: Caller, query: DeadLetterQuery): Promise<DeadLetterList> {
  const limit = query.limit ?? DEFAULT_DEAD_LETTER_LIMIT;
  const prefix = ownPrefix(caller);
  const filter = {
    states: query.state === undefined ? null : ([...new Set(query.state.split(","))] as DeadLetterState[]),
    keys: prefix === "" ? null : prefixRange(prefix),
  };
  const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor);
  // One row more than the page tells whether there is a next one.
  const rows = await listDeadLetters(db, filter, cursor, limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toDeadLetter),
    nextCursor:
      rows.length > limit && last !== undefined ? encodeCursor({ at: last.first_seen_at, id: last.id }) : null,
  };
}

/**
 * Puts a dead letter's body back on the pipeline's queue, once: the replay claim makes a second
 * replay (or one racing this) answer `already_replayed` without sending. If the queue refuses,
 * the claim is given back and the caller may try again. A Worker that dies between sending and
 * recording leaves a claim that lapses after a minute; the replay after that sends again, which
 * the consumer tolerates as it does any duplicate delivery.
 */
export async function replayDeadLetter(
  env: { DB: D1Database; UPLOAD_EVENTS: Queue },
  caller: Caller,
  id: string,
  now: number,
): Promise<DeadLetterReplay> {
  await accessibleDeadLetter(env.DB, caller, id);
  const claim = crypto.randomUUID();
  const claimed = await claimReplay(env.DB, id, claim, now);
  if (claimed === null) {
    const row = await accessibleDeadLetter(env.DB, caller, id);
    if (row.state === "replayed") return { outcome: "already_replayed", deadLetter: toDeadLetter(row) };
    throw errors.deadLetterConflict(
      row.state,
      row.state === "discarded" ? "cannot be replayed" : "another replay is under way",
    );
  }
  try {
    await env.UPLOAD_EVENTS.send(JSON.parse(claimed.body) as unknown, { contentType: "json" });
  } catch (error) {
    console.error(
      JSON.stringify({ event: "dead_letter_replay_failed", code: "enqueue_failed", id, error: errorMessage(error) }),
    );
    await releaseReplay(env.DB, id, claim);
    throw errors.replayFailed();
  }
  // Sent either way; a null here means the claim lapsed and someone else took the row on.
  const finished = (await finishReplay(env.DB, id, claim, Date.now())) ?? (await getDeadLetter(env.DB, id)) ?? claimed;
  console.log(
    JSON.stringify({
      event: "dead_letter_replayed",
      id,
      messageId: claimed.message_id,
      type: claimed.message_type,
      uploadId: claimed.upload_id,
      key: claimed.object_key,
    }),
  );
  return { outcome: "replayed", deadLetter: toDeadLetter(finished) };
}

/** Sets a dead letter aside for good; discarding it again answers the same. */
export async function discard(db: D1Database, caller: Caller, id: string, now: number): Promise<DeadLetter> {
  await accessibleDeadLetter(db, caller, id);
  const row = await discardDeadLetter(db, id, now);
  if (row === null) throw errors.deadLetterConflict("replaying", "cannot be discarded until the replay ends");
  return toDeadLetter(row);
}

async function accessibleDeadLetter(db: D1Database, caller: Caller, id: string): Promise<DeadLetterRow> {
  const row = await getDeadLetter(db, id);
  if (row === null) throw errors.deadLetterNotFound(id);
  const prefix = ownPrefix(caller);
  if (prefix !== "" && (row.object_key === null || !row.object_key.startsWith(prefix))) {
    throw errors.forbidden("this API key may not access this dead letter");
  }
  return row;
}

export function toDeadLetter(row: DeadLetterRow): DeadLetter {
  let body: unknown;
  try {
    body = JSON.parse(row.body);
  } catch {
    body = row.body;
  }
  return {
    id: row.id,
    messageId: row.message_id,
    queue: row.queue,
    type: row.message_type,
    uploadId: row.upload_id,
    key: row.object_key,
    body,
    attempts: row.attempts,
    state: row.state,
    sentAt: isoOrNull(row.sent_at),
    firstSeenAt: iso(row.first_seen_at),
    lastSeenAt: iso(row.last_seen_at),
    replayedAt: isoOrNull(row.replayed_at),
    discardedAt: isoOrNull(row.discarded_at),
  };
}

/** Opaque to clients: "d." + the last item's first_seen_at and id, base64url. */
function encodeCursor(cursor: DeadLetterCursor): string {
  return toBase64Url(new TextEncoder().encode(`d.${cursor.at}.${cursor.id}`));
}

function decodeCursor(text: string): DeadLetterCursor {
  const bytes = fromBase64(text);
  const match = bytes === null ? null : /^d\.(\d{1,16})\.(.{1,64})$/s.exec(new TextDecoder().decode(bytes));
  if (match === null) {
    throw errors.invalidRequest("invalid query: cursor: not a cursor of this listing", [
      { path: "cursor", message: "not a cursor of this listing" },
    ]);
  }
  return { at: Number(match[1]), id: match[2] as string };
}
