/// <reference lib="dom" />
// The time range picker: the presets within the store's retention, or a from/to window
// (datetime-local inputs, in the page's zone) that the URL carries as ISO times
// (`#/traffic?from=2026-12-06T22:00:00.000Z&to=…`). The server checks the window (from before to,
// within retention, at most 720 points) and the page shows its refusal naming the field.

import { useState } from "preact/hooks";
import { html } from "./html.js";

export interface RangeChoice {
  /** A preset's id, or "custom". */
  range: string;
  from: string | null;
  to: string | null;
}

/** What the URL's parameters ask for: from/to when either is there, else a preset (1 h). */
export function rangeOfParams(params: URLSearchParams): RangeChoice {
  const from = params.get("from");
  const to = params.get("to");
  if (from !== null || to !== null) return { range: "custom", from, to };
  return { range: params.get("range") ?? "1h", from: null, to: null };
}

/** The range's part of a URL's query: range=…, or from=…&to=…. */
export function rangeQuery(c: RangeChoice): URLSearchParams {
  const p = new URLSearchParams();
  if (c.range === "custom") {
    p.set("from", c.from ?? "");
    p.set("to", c.to ?? "");
  } else p.set("range", c.range);
  return p;
}

/** A time as a datetime-local input shows it (the page's zone, to the minute). */
function local(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function parseLocal(v: string): string | null {
  const ms = new Date(v).getTime();
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

export function RangePicker(props: {
  choice: RangeChoice;
  presets: Array<{ id: string }>;
  retentionMs: number;
  onChange: (c: RangeChoice) => void;
}) {
  const { choice } = props;
  const now = Date.now();
  const initial = (iso: string | null, fallback: number) => {
    const ms = iso ? Date.parse(iso) : Number.NaN;
    return local(Number.isFinite(ms) ? ms : fallback);
  };
  const [from, setFrom] = useState(() => initial(choice.from, now - 3_600_000));
  const [to, setTo] = useState(() => initial(choice.to, now));
  const [editing, setEditing] = useState(choice.range === "custom");
  const [error, setError] = useState<string | undefined>();
  const apply = (e: Event) => {
    e.preventDefault();
    const f = parseLocal(from);
    const t = parseLocal(to);
    if (!f) return setError("From is not a time");
    if (!t) return setError("To is not a time");
    if (Date.parse(f) >= Date.parse(t)) return setError("From must be before To");
    setError(undefined);
    props.onChange({ range: "custom", from: f, to: t });
  };
  return html`<div class="range">
    <label>Time range<select value=${editing ? "custom" : choice.range} onChange=${(e: Event) => {
      const v = (e.target as HTMLSelectElement).value;
      if (v === "custom") setEditing(true);
      else {
        setEditing(false);
        props.onChange({ range: v, from: null, to: null });
      }
    }}>
      ${props.presets.map((r) => html`<option value=${r.id}>last ${r.id}</option>`)}
      <option value="custom">from … to …</option>
    </select></label>
    ${
      editing
        ? html`<form class="row" onSubmit=${apply} aria-label="Custom time range">
        <label>From<input type="datetime-local" name="from" required value=${from}
          min=${local(now - props.retentionMs)} max=${local(now)}
          onInput=${(e: Event) => setFrom((e.target as HTMLInputElement).value)} /></label>
        <label>To<input type="datetime-local" name="to" required value=${to}
          min=${local(now - props.retentionMs)} max=${local(now + 60_000)}
          onInput=${(e: Event) => setTo((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">Apply</button>
        ${error ? html`<span class="error" role="alert">${error}</span>` : null}
      </form>`
        : null
    }
  </div>`;
}
