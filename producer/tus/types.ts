import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { TusConcat } from "../../shared/db/tus";

/** What a tus upload's Durable Object knows of it, set at creation. */
export type TusMeta = {
  uploadId: string;
  /** The object key; for a partial upload, its staging key. */
  key: string;
  /** Who created it (ownerOf): partial uploads, whose key is ours, are authorized by it. */
  owner: string;
  partSize: number;
  /** Null while deferred. */
  length: number | null;
  /** The Upload-Metadata header as sent. */
  metadata: string | null;
  concat: TusConcat;
  /** A final upload's partials, in order, with their lengths and staging keys. */
  partials: { uploadId: string; key: string; length: number }[] | null;
  /** A final upload: its parts are all written and recorded. */
  assembled?: boolean;
  /** A final upload: how often it found a partial not completed yet. */
  assemblyPolls?: number;
  staleAfterSeconds: number;
  /** Upload-Expires: last activity plus the stale window. */
  expiresAt: number;
  /** What D1 last heard as the expiry; D1 is told again once half a window went by. */
  d1ExpiresAt: number;
};

export type TusSnapshot = {
  meta: TusMeta;
  /** Whole parts recorded in D1. */
  parts: number;
  /** Bytes after them, held in the object's storage. */
  tailBytes: number;
  /** Upload-Offset: every byte stored durably. */
  offset: number;
};

/** A refusal, returned rather than thrown (an error crossing RPC loses its class). */
export type Refusal = { refused: true; status: ContentfulStatusCode; code: string; message: string };

/** null: the object has no such upload (never had, or its storage is gone). */
export type BeginResult = { lease: string; snapshot: TusSnapshot } | Refusal | null;

/** The message of the error a call with a lapsed lease fails with (errors cross RPC as messages). */
export const LEASE_LOST = "tus lease lost: another PATCH took the upload";
