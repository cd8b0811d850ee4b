import { readJson } from "./api.js";
import type {
  DeadLetter,
  DeadLetterList,
  DeadLetterReplay,
  DeadLetterState,
  ListDeadLettersQuery,
} from "./contract.js";
import { IngestError } from "./errors.js";
import { isRecord, send, type Transport } from "./http.js";

/** Every state, as an object so that a state added to the contract fails to compile here. */
export const DEAD_LETTER_STATES: Record<DeadLetterState, true> = {
  dead: true,
  replaying: true,
  replayed: true,
  discarded: true,
};

const path = (id: string) => `dead-letters/${encodeURIComponent(id)}`;

/** Checks the fields the client acts on, so a wrong endpoint fails clearly instead of later. */
const isDeadLetter = (value: unknown): value is DeadLetter =>
  isRecord(value) &&
  typeof value.id === "string" &&
  typeof value.messageId === "string" &&
  typeof value.state === "string" &&
  Object.hasOwn(DEAD_LETTER_STATES, value.state);

const isList = (value: unknown): value is DeadLetterList =>
  isRecord(value) &&
  (value.nextCursor === null || typeof value.nextCursor === "string") &&
  Array.isArray(value.items) &&
  value.items.every(isDeadLetter);

const isReplay = (value: unknown): value is DeadLetterReplay =>
  isRecord(value) &&
  (value.outcome === "replayed" || value.outcome === "already_replayed") &&
  isDeadLetter(value.deadLetter);

function expect<T>(value: unknown, check: (value: unknown) => value is T, label: string, what: string): T {
  if (!check(value)) throw new IngestError("bad_response", `${label}: the server's answer is not ${what}`);
  return value;
}

/**
 * GET /dead-letters: one page of dead letters, newest first. Pass the page's `nextCursor` as
 * `cursor` (with the same filters) for the next one; it is null after the last.
 */
export async function listDeadLetters(transport: Transport, query: ListDeadLettersQuery = {}): Promise<DeadLetterList> {
  const params = new URLSearchParams();
  const states = query.state === undefined ? [] : typeof query.state === "string" ? [query.state] : query.state;
  for (const state of states) params.append("state", state);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.cursor !== undefined) params.set("cursor", query.cursor);
  const search = params.toString();
  const label = "dead-letters list";
  const response = await send(transport, {
    method: "GET",
    path: `dead-letters${search === "" ? "" : `?${search}`}`,
    label,
  });
  return expect(await readJson(response, label), isList, label, "a page of dead letters");
}

/**
 * POST /dead-letters/{id}/replay: puts the dead message back on the pipeline's queue. Safe to
 * retry: a dead letter is sent once, and a later call answers `already_replayed`.
 */
export async function replayDeadLetter(transport: Transport, id: string): Promise<DeadLetterReplay> {
  const label = `replay ${id}`;
  const response = await send(transport, { method: "POST", path: `${path(id)}/replay`, label });
  return expect(await readJson(response, label), isReplay, label, "a replay outcome");
}

/** DELETE /dead-letters/{id}: sets the dead letter aside for good; again is a no-op. */
export async function discardDeadLetter(transport: Transport, id: string): Promise<DeadLetter> {
  const label = `discard ${id}`;
  const response = await send(transport, { method: "DELETE", path: path(id), label });
  return expect(await readJson(response, label), isDeadLetter, label, "a dead letter");
}
