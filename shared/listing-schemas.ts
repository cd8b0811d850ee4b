import * as z from "zod/mini";
import {
  bytesCount,
  components,
  count,
  isoTime,
  R2_MAX_PARTS,
  UploadApi,
  UploadId,
  UploadMode,
  UploadState,
} from "./schemas";

/** The listing API (GET /uploads, GET /uploads/summary) and the health check (GET /healthz). */

export const MAX_LIST_LIMIT = 200;
export const DEFAULT_LIST_LIMIT = 50;
export const ListOrder = z.enum(["newest", "oldest", "expiring"]);
export type ListOrder = z.infer<typeof ListOrder>;
export const ListApi = z.enum(["native", "compat", "tus", "stream"]);
export type ListApi = z.infer<typeof ListApi>;

export const UploadListItem = z
  .object({
    uploadId: UploadId,
    key: z.string(),
    api: UploadApi,
    mode: UploadMode,
    state: UploadState,
    partSize: z.nullable(bytesCount),
    expectedParts: z.nullable(count(R2_MAX_PARTS, "expectedParts")),
    receivedParts: count(R2_MAX_PARTS, "receivedParts"),
    bytesReceived: bytesCount,
    size: z.nullable(bytesCount),
    createdAt: isoTime,
    updatedAt: isoTime,
    lastActivityAt: isoTime,
    expiresAt: z.nullable(isoTime),
    completedAt: z.nullable(isoTime),
    reason: z.nullable(z.string()),
  })
  .register(components, { id: "UploadListItem" });
export type UploadListItem = z.infer<typeof UploadListItem>;

export const UploadList = z
  .object({
    items: z.array(UploadListItem),
    nextCursor: z.nullable(z.string()),
  })
  .register(components, { id: "UploadList" });
export type UploadList = z.infer<typeof UploadList>;

const tally = z.int().check(z.minimum(0));
/** Uploads that ended in the last 24 hours (docs/api.md, "Upload summary"). */
export const RecentTotals = z
  .object({
    since: isoTime,
    completed: tally,
    failed: tally,
    aborted: tally,
    bytesCompleted: tally,
    completionLatencyMs: z.nullable(z.object({ p50: tally, p95: tally, sample: tally })),
  })
  .register(components, { id: "RecentTotals" });
export const UploadSummary = z
  .object({
    byState: z.object({ open: tally, completing: tally, completed: tally, aborted: tally, failed: tally }),
    bytesInFlight: tally,
    oldestOpen: z.nullable(z.object({ uploadId: UploadId, key: z.string(), createdAt: isoTime })),
    expiringWithinHour: tally,
    recent: RecentTotals,
    generatedAt: isoTime,
  })
  .register(components, { id: "UploadSummary" });
export type UploadSummary = z.infer<typeof UploadSummary>;

const HealthCheck = z.object({
  ok: z.boolean(),
  ms: z.number(),
  error: z.optional(z.string()),
});
export const HealthReport = z
  .object({
    status: z.enum(["ok", "unavailable"]),
    checks: z.object({ d1: HealthCheck, r2: HealthCheck, queue: HealthCheck }),
  })
  .register(components, { id: "HealthReport" });
export type HealthReport = z.infer<typeof HealthReport>;
