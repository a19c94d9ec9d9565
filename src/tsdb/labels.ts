/** One label: a name and a non-empty value. */
export interface Label {
  readonly name: string;
  readonly value: string;
}

/**
 * A series' identity: labels sorted by name (byte order, as Prometheus sorts them), unique
 * names, no empty values (Prometheus treats an empty value as an absent label). `__name__`
 * is an ordinary label here.
 */
export type Labels = readonly Label[];

export const METRIC_NAME = "__name__";

const EMPTY: Labels = Object.freeze([]);

function byName(a: Label, b: Label): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Builds a sorted label set from a plain object; empty values are dropped, numbers stringified. */
export function labelsFromObject(obj: Readonly<Record<string, string | number | undefined>>): Labels {
  const out: Label[] = [];
  for (const name in obj) {
    const raw = obj[name];
    if (raw === undefined) continue;
    const value = typeof raw === "string" ? raw : String(raw);
    if (value === "") continue;
    out.push({ name, value });
  }
  if (out.length === 0) return EMPTY;
  out.sort(byName);
  return out;
}

/** Builds a sorted label set from pairs; a later duplicate name wins, empty values are dropped. */
export function labelsFromPairs(pairs: Iterable<readonly [string, string]>): Labels {
  const obj: Record<string, string> = {};
  for (const [name, value] of pairs) obj[name] = value;
  return labelsFromObject(obj);
}

/** The labels as a plain object (e.g. for JSON responses). */
export function labelsToObject(labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) out[l.name] = l.value;
  return out;
}

/**
 * A stable, unambiguous key for a label set. Each name and value is length-prefixed, so no
 * value (whatever characters it holds) can make two different sets share a key, and nothing
 * needs escaping on the hot path.
 */
export function labelsKey(labels: Labels): string {
  let key = "";
  for (const l of labels) key += `${l.name.length}:${l.name}${l.value.length}:${l.value}`;
  return key;
}

/** The value of a label, or "" if absent (the Prometheus rule for matching). */
export function labelValue(labels: Labels, name: string): string {
  for (const l of labels) if (l.name === name) return l.value;
  return "";
}

/** Compares two label sets the way Prometheus orders series (name, then value, pairwise). */
export function compareLabels(a: Labels, b: Labels): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as Label;
    const y = b[i] as Label;
    if (x.name !== y.name) return x.name < y.name ? -1 : 1;
    if (x.value !== y.value) return x.value < y.value ? -1 : 1;
  }
  return a.length - b.length;
}

function escapeValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** The Prometheus text form, e.g. `http_requests_total{method="GET"}`. */
export function labelsToString(labels: Labels): string {
  let name = "";
  const parts: string[] = [];
  for (const l of labels) {
    if (l.name === METRIC_NAME) name = l.value;
    else parts.push(`${l.name}="${escapeValue(l.value)}"`);
  }
  return parts.length === 0 && name !== "" ? name : `${name}{${parts.join(",")}}`;
}
