import type { CellState } from "./status-view";

/** Cells beyond this are summarised: a grid of 10,000 parts says nothing a count does not. */
const MAX_CELLS = 2_000;

const LEGEND: Record<CellState, string> = {
  received: "received",
  missing: "missing",
  committed: "committed to a part",
  staged: "staged",
};

export function CellGrid({ cells, noun }: { cells: CellState[]; noun: "Part" | "Chunk" }) {
  const shown = cells.slice(0, MAX_CELLS);
  const counts = new Map<CellState, number>();
  for (const cell of cells) counts.set(cell, (counts.get(cell) ?? 0) + 1);
  return (
    <div class="grid-block">
      <p class="legend">
        {[...counts].map(([state, count]) => (
          <span key={state} class="legend-item">
            <span class={`cell cell-${state}`} aria-hidden="true" /> {count.toLocaleString("en-US")} {LEGEND[state]}
          </span>
        ))}
      </p>
      {/* biome-ignore lint/a11y/noRedundantRoles: Safari drops the list role of a styled list. */}
      <ol role="list" aria-label={`${noun}s`} class="cells">
        {shown.map((state, index) => (
          <li
            key={index}
            class={`cell cell-${state}`}
            aria-label={`${noun} ${index + 1}: ${state}`}
            title={`${noun} ${index + 1}: ${LEGEND[state]}`}
          >
            <span class="cell-mark" aria-hidden="true">
              {state === "missing" ? "·" : state === "staged" ? "○" : "●"}
            </span>
          </li>
        ))}
      </ol>
      {cells.length > shown.length && (
        <p class="muted small">
          …and {(cells.length - shown.length).toLocaleString("en-US")} more {noun.toLowerCase()}s.
        </p>
      )}
    </div>
  );
}
