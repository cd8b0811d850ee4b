/**
 * Part numbers in 1..upTo that are absent from `present`, folded into ranges ("4-7", "9")
 * so that a status of a 10,000-part upload stays small.
 */
export function missingRanges(present: Iterable<number>, upTo: number): string[] {
  const have = new Set(present);
  const ranges: string[] = [];
  let start = 0;
  for (let n = 1; n <= upTo + 1; n++) {
    const missing = n <= upTo && !have.has(n);
    if (missing && start === 0) start = n;
    if (!missing && start !== 0) {
      const end = n - 1;
      ranges.push(start === end ? String(start) : `${start}-${end}`);
      start = 0;
    }
  }
  return ranges;
}
