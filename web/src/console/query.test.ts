import { describe, expect, it } from "vitest";
import { NO_FILTERS, toQuery } from "./query";

describe("toQuery", () => {
  it("sends only the order when no filter is set (no state ticked means every state)", () => {
    expect(toQuery(NO_FILTERS)).toEqual({ order: "newest" });
  });

  it("sends every filter that is set, times as instants", () => {
    const query = toQuery({
      states: ["open", "failed"],
      prefix: "cams/",
      api: "tus",
      createdAfter: "2026-03-04T05:06",
      staleBefore: "",
      order: "expiring",
    });
    expect(query).toEqual({
      order: "expiring",
      state: ["open", "failed"],
      prefix: "cams/",
      api: "tus",
      createdAfter: new Date(2026, 2, 4, 5, 6).toISOString(),
    });
  });
});
