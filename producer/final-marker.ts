import { ApiError } from "../shared/errors";

/** Reads the `final` query parameter that marks a stream's last part or chunk. */
export function finalMarker(value: string | undefined): boolean {
  if (value === undefined || value === "0" || value === "false") return false;
  if (value === "1" || value === "true" || value === "") return true;
  throw new ApiError(400, "invalid_request", "final must be 1 or true (or absent)");
}
