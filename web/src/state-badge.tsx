import type { UploadState } from "./api";

/**
 * A state as a word with its own symbol and colour, so it never depends on colour alone. The
 * symbol is CSS generated content with empty alternative text (styles.css): screen readers and
 * textContent get the word only.
 */
export function StateBadge({ state, label = state }: { state: UploadState; label?: string }) {
  return <span class={`state state-${state}`}>{label}</span>;
}
