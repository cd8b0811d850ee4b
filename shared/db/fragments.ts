/**
 * SQL that several statements share, written once so that the rules cannot drift apart. Each
 * takes the SQL it applies to (a table alias, a bound parameter such as "?3", a column), so
 * one rule fits statements with different parameter numbering.
 */

/** States in which R2 may still take parts for an upload, so D1 records them. */
export function acceptsParts(upload: string): string {
  return `${upload}.state IN ('open', 'completing')`;
}

/**
 * SET assignments that count `at` as activity: the stale clock only moves forward, and the
 * expiry follows it. (In SQLite every right-hand side reads the row as it was before the
 * UPDATE, so both assignments see the old last_activity_at.)
 */
export function activityClock(at: string): string {
  return `last_activity_at = max(last_activity_at, ${at}),
    expires_at = max(last_activity_at, ${at}) + stale_after_seconds * 1000`;
}

/**
 * Ready to complete: a part count is known, every part up to it is recorded, and so is the
 * last part R2 accepted (part_seq) — otherwise a newer copy of some part is still on its way
 * and completing now would use an etag R2 replaced.
 */
export function readyToComplete(upload: string): string {
  return `${upload}.expected_parts IS NOT NULL
    AND ${upload}.expected_parts = (SELECT count(*) FROM parts p
                                    WHERE p.upload_id = ${upload}.upload_id AND p.part_number <= ${upload}.expected_parts)
    AND ${upload}.part_seq <= (SELECT coalesce(max(p.seq), 0) FROM parts p WHERE p.upload_id = ${upload}.upload_id)`;
}

/** Nobody holds the completion, or the claim that did outlived its lease (its invocation died). */
export function claimable(upload: string, leaseCutoff: string): string {
  return `(${upload}.state = 'open' OR (${upload}.state = 'completing' AND ${upload}.claimed_at <= ${leaseCutoff}))`;
}

/**
 * The conflict rule for recording a part: a duplicate changes nothing, and an older record never
 * overwrites a newer one (R2 keeps the last upload of a part number, and its sequence is higher).
 */
export const PART_UPSERT = `ON CONFLICT (upload_id, part_number) DO UPDATE SET
    etag = excluded.etag, size = excluded.size, seq = excluded.seq, uploaded_at = excluded.uploaded_at,
    recorded_at = excluded.recorded_at, sha256 = excluded.sha256, r2_part = excluded.r2_part
  WHERE excluded.seq > parts.seq`;
