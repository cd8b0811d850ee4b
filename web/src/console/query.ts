import type { ListUploadsQuery, UploadState } from "../api";
import { localInputToIso } from "../format";

// The console's filters and the GET /uploads query they make; tested in query.test.ts.

export const STATES: UploadState[] = ["open", "completing", "completed", "aborted", "failed"];
export const APIS = ["native", "compat", "tus", "stream"] as const;
export const ORDERS = [
  ["newest", "Newest first"],
  ["oldest", "Oldest first"],
  ["expiring", "Expiring soonest"],
] as const;

export type FilterValues = {
  states: UploadState[];
  prefix: string;
  api: "" | (typeof APIS)[number];
  createdAfter: string;
  staleBefore: string;
  order: (typeof ORDERS)[number][0];
};

export const NO_FILTERS: FilterValues = {
  states: [],
  prefix: "",
  api: "",
  createdAfter: "",
  staleBefore: "",
  order: "newest",
};

/** The GET /uploads query for these filters (no state ticked means every state). */
export function toQuery(filters: FilterValues): ListUploadsQuery {
  const query: ListUploadsQuery = { order: filters.order };
  if (filters.states.length > 0) query.state = filters.states;
  if (filters.prefix !== "") query.prefix = filters.prefix;
  if (filters.api !== "") query.api = filters.api;
  const createdAfter = localInputToIso(filters.createdAfter);
  if (createdAfter !== undefined) query.createdAfter = createdAfter;
  const staleBefore = localInputToIso(filters.staleBefore);
  if (staleBefore !== undefined) query.staleBefore = staleBefore;
  return query;
}
