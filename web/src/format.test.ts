import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, formatExpiry, localInputToIso } from "./format";

describe("formatBytes", () => {
  it("uses binary units and drops trailing zeros", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(8 * 1024 * 1024)).toBe("8 MiB");
    expect(formatBytes(9 * 1024 * 1024 + 300 * 1024)).toBe("9.29 MiB");
    expect(formatBytes(150 * 1024 ** 3)).toBe("150 GiB");
  });
});

describe("formatDuration", () => {
  it("shows the two largest units and never a trailing zero unit", () => {
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(45_000)).toBe("45 s");
    expect(formatDuration(12 * 60_000)).toBe("12 min");
    expect(formatDuration(2 * 3_600_000)).toBe("2 h");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 59_000)).toBe("3 d 4 h");
  });
});

describe("formatExpiry", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it("says how long is left, overdue once past, and a dash when nothing expires", () => {
    expect(formatExpiry("2026-01-01T03:00:00Z", now)).toBe("3 h");
    expect(formatExpiry("2025-12-31T23:59:00Z", now)).toBe("overdue");
    expect(formatExpiry(null, now)).toBe("—");
  });
});

describe("localInputToIso", () => {
  it("turns a datetime-local value into an instant and an empty or broken one into undefined", () => {
    expect(localInputToIso("")).toBeUndefined();
    expect(localInputToIso("not a time")).toBeUndefined();
    expect(localInputToIso("2026-03-04T05:06")).toBe(new Date(2026, 2, 4, 5, 6).toISOString());
  });
});
