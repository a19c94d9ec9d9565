// Label-set operations the evaluator needs (Prometheus's `labels.Builder`, signatures for matching).

import { type Label, type Labels, labelsKey, METRIC_NAME } from "../tsdb/index.js";

const EMPTY: Labels = Object.freeze([]);

export function dropMetricName(ls: Labels): Labels {
  for (const l of ls) if (l.name === METRIC_NAME) return ls.filter((x) => x.name !== METRIC_NAME);
  return ls;
}

/** Only the labels named in `names`. */
export function keepLabels(ls: Labels, names: readonly string[]): Labels {
  const out = ls.filter((l) => names.includes(l.name));
  return out.length === 0 ? EMPTY : out;
}

/** All labels except those named in `names`. */
export function removeLabels(ls: Labels, names: readonly string[]): Labels {
  const out = ls.filter((l) => !names.includes(l.name));
  return out.length === 0 ? EMPTY : out;
}

/** Sets `name` to `value`; an empty value removes the label (Prometheus's rule). */
export function setLabel(ls: Labels, name: string, value: string): Labels {
  const out: Label[] = ls.filter((l) => l.name !== name);
  if (value !== "") {
    out.push({ name, value });
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return out;
}

/** The labels vector matching compares: `on(names)` keeps only them; `ignoring(names)` drops them and `__name__`. */
export function matchLabels(ls: Labels, on: boolean, names: readonly string[]): Labels {
  return on ? keepLabels(ls, names) : ls.filter((l) => l.name !== METRIC_NAME && !names.includes(l.name));
}

export function matchSignature(ls: Labels, on: boolean, names: readonly string[]): string {
  return labelsKey(matchLabels(ls, on, names));
}

/** Prometheus's `Labels.String()`: `{a="1", b="2"}`. */
export function formatLabels(ls: Labels): string {
  return `{${ls.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(", ")}}`;
}

const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidLabelName(name: string): boolean {
  return LABEL_NAME_RE.test(name);
}
