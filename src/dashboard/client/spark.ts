/// <reference lib="dom" />
// A sparkline: a trend in a table cell as a small inline SVG (no library, a few hundred bytes),
// with its figures as the text alternative.

import { html } from "./html.js";

const W = 120;
const H = 24;

export function Sparkline(props: { values: number[]; label: string }) {
  const v = props.values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return html`<span class="muted">–</span>`;
  const max = Math.max(...v);
  const scale = max > 0 ? (H - 4) / max : 0;
  const x = (i: number) => (v.length > 1 ? (i / (v.length - 1)) * (W - 2) + 1 : W / 2);
  const y = (n: number) => H - 2 - n * scale;
  const points = v.map((n, i) => `${x(i).toFixed(1)},${y(n).toFixed(1)}`).join(" ");
  const last = v[v.length - 1] as number;
  return html`<svg class="spark" width=${W} height=${H} viewBox=${`0 0 ${W} ${H}`} role="img"
    aria-label=${`${props.label}: last ${last}, highest ${max}, over ${v.length} points`}>
    <polyline points=${points} />
    <circle cx=${x(v.length - 1)} cy=${y(last)} r="2" />
  </svg>`;
}
