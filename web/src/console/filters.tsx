import { useEffect, useState } from "preact/hooks";
import type { UploadState } from "../api";
import { APIS, type FilterValues, NO_FILTERS, ORDERS, STATES } from "./query";

const PREFIX_DEBOUNCE_MS = 300;

/** Filters apply as they change; the prefix after a short pause in typing, or at once on Enter. */
export function Filters({ value, onChange }: { value: FilterValues; onChange: (next: FilterValues) => void }) {
  const [prefix, setPrefix] = useState(value.prefix);
  useEffect(() => {
    if (prefix === value.prefix) return;
    const timer = setTimeout(() => onChange({ ...value, prefix }), PREFIX_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [prefix, value, onChange]);

  const toggle = (state: UploadState, on: boolean) =>
    onChange({ ...value, states: on ? [...value.states, state] : value.states.filter((s) => s !== state) });

  return (
    <form
      aria-label="Filters"
      class="filters"
      onSubmit={(event) => {
        event.preventDefault();
        onChange({ ...value, prefix });
      }}
    >
      <fieldset>
        <legend>State</legend>
        {STATES.map((state) => (
          <label key={state} class="check">
            <input
              type="checkbox"
              checked={value.states.includes(state)}
              onChange={(event) => toggle(state, event.currentTarget.checked)}
            />
            {state}
          </label>
        ))}
      </fieldset>
      <label>
        Key prefix
        <input
          type="text"
          value={prefix}
          placeholder="any"
          spellcheck={false}
          onInput={(event) => setPrefix(event.currentTarget.value)}
        />
      </label>
      <label>
        API
        <select
          value={value.api}
          onChange={(event) => onChange({ ...value, api: event.currentTarget.value as FilterValues["api"] })}
        >
          <option value="">Any</option>
          {APIS.map((api) => (
            <option key={api} value={api}>
              {api}
            </option>
          ))}
        </select>
      </label>
      <label>
        Created after
        <input
          type="datetime-local"
          value={value.createdAfter}
          onChange={(event) => onChange({ ...value, createdAfter: event.currentTarget.value })}
        />
      </label>
      <label>
        Stale before
        <input
          type="datetime-local"
          value={value.staleBefore}
          onChange={(event) => onChange({ ...value, staleBefore: event.currentTarget.value })}
        />
      </label>
      <label>
        Order
        <select
          value={value.order}
          onChange={(event) => onChange({ ...value, order: event.currentTarget.value as FilterValues["order"] })}
        >
          {ORDERS.map(([order, label]) => (
            <option key={order} value={order}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        class="quiet"
        onClick={() => {
          setPrefix("");
          onChange(NO_FILTERS);
        }}
      >
        Clear filters
      </button>
    </form>
  );
}
