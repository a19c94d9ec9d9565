// The dashboard's stylesheet, served as a file (the CSP allows no inline style). Kept in a
// module rather than a .css file so that it travels with the code into dist/ (tsc copies no CSS).
// Light and dark follow prefers-color-scheme; colours meet WCAG AA contrast in both.

export const DASHBOARD_CSS = `
:root {
  --bg: #f6f7f9; --panel: #ffffff; --fg: #1b1f24; --muted: #4a5361; --line: #d4d9e0;
  --accent: #0b57d0; --ok: #11703a; --warn: #8a5a00; --fail: #b3261e; --focus: #0b57d0;
  --s0: #0b57d0; --s1: #c2410c; --s2: #15803d; --s3: #9333ea; --s4: #be123c; --s5: #0e7490;
  --s6: #a16207; --s7: #4338ca;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1216; --panel: #171b21; --fg: #e6e9ee; --muted: #a9b2bf; --line: #2d343e;
    --accent: #8ab4f8; --ok: #6dd58c; --warn: #f2c15c; --fail: #ff8a80; --focus: #8ab4f8;
    --s0: #8ab4f8; --s1: #fb923c; --s2: #4ade80; --s3: #c084fc; --s4: #fb7185; --s5: #22d3ee;
    --s6: #facc15; --s7: #a5b4fc;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--panel); padding: 4px 8px; z-index: 10; }
header.top { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; padding: 8px 16px;
  background: var(--panel); border-bottom: 1px solid var(--line); }
header.top h1 { font-size: 16px; margin: 0 12px 0 0; }
nav.views ul { display: flex; flex-wrap: wrap; gap: 4px; list-style: none; margin: 0; padding: 0; }
nav.views a { display: block; padding: 6px 10px; border-radius: 6px; text-decoration: none; color: var(--fg); }
nav.views a[aria-current="page"] { background: var(--accent); color: var(--panel); }
.controls { margin-left: auto; display: flex; gap: 8px; align-items: center; }
.range { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
.range form.row { gap: 6px; }
.live { font-size: 12px; color: var(--muted); }
.live.on::before { content: "● "; color: var(--ok); }
.live.off::before { content: "● "; color: var(--fail); }
main.shell { padding: 16px; max-width: 1600px; margin: 0 auto; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 0 0 8px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin-bottom: 12px; }
.card, .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; min-width: 0; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 22px; font-weight: 600; }
.panel { margin-bottom: 12px; }
.grid .panel { margin-bottom: 0; }
.state { color: var(--muted); padding: 16px 0; }
.state.error, .error { color: var(--fail); }
.status-pass, .status-ok, .status-succeeded { color: var(--ok); }
.status-warn, .status-pending, .status-inconclusive { color: var(--warn); }
.status-fail, .status-firing, .status-failed, .status-rolled_back, .status-rollback_failed { color: var(--fail); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button:focus-visible { outline: 2px solid var(--focus); }
td.num, th.num { text-align: right; }
tr.selected { background: color-mix(in srgb, var(--accent) 12%, transparent); }
.tablewrap { overflow-x: auto; }
button, select, input, textarea { font: inherit; color: var(--fg); background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; padding: 5px 10px; }
button { cursor: pointer; }
button.primary { background: var(--accent); color: var(--panel); border-color: var(--accent); }
button.danger { color: var(--fail); border-color: var(--fail); }
form.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
label { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--muted); }
.signin { max-width: 420px; margin: 64px auto; }
.signin form { display: flex; flex-direction: column; gap: 12px; }
.muted { color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0; }
.chart { width: 100%; min-height: 220px; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend .sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
.sw0 { background: var(--s0); } .sw1 { background: var(--s1); } .sw2 { background: var(--s2); } .sw3 { background: var(--s3); }
.sw4 { background: var(--s4); } .sw5 { background: var(--s5); } .sw6 { background: var(--s6); } .sw7 { background: var(--s7); }
.spark { vertical-align: middle; }
.spark polyline { fill: none; stroke: var(--s0); stroke-width: 1.5; }
.spark circle { fill: var(--s0); }
.timeline { list-style: none; padding: 0; margin: 0; border-left: 2px solid var(--line); }
.timeline li { padding: 2px 0 6px 12px; }
.uplot, .uplot * { font-family: inherit; }
.u-legend { display: none; }
.tip { position: absolute; pointer-events: none; background: var(--panel); color: var(--fg); border: 1px solid var(--line);
  border-radius: 6px; padding: 4px 8px; font-size: 12px; z-index: 5; white-space: nowrap; }
.u-wrap { position: relative; }
`;
