// The dashboard's browser code, bundled by the app itself when it starts: esbuild bundles
// src/dashboard/client/main.ts (Preact, htm, uPlot from node_modules) into one minified ES module
// in memory, and the stylesheet is uPlot's plus ours (styles.ts). Each asset is named by its
// content's hash (cached for a year, immutable) and kept gzipped beside its plain bytes.
//
// Decision: bundle at start-up rather than commit a built file. `npm ci && npm start` stays the
// whole set-up with nothing generated to keep in step with its sources (a committed bundle needs
// a test that rebuilds it to prove it current, which is the same esbuild run, plus a step people
// forget). esbuild is deterministic for the same inputs and versions, takes ~0.2-0.5 s here, once,
// and runs in its own process (esbuild's service), so the API's thread only waits for it. From
// dist/ it bundles the compiled client (main.js) the same way.

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { DASHBOARD_CSS } from "./styles.js";

export interface Asset {
  name: string;
  type: string;
  body: Buffer;
  gzip: Buffer;
}

export interface Bundle {
  js: Asset;
  css: Asset;
}

function asset(stem: string, ext: string, type: string, body: Buffer): Asset {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  return { name: `${stem}.${hash}.${ext}`, type, body, gzip: gzipSync(body, { level: 9 }) };
}

/** The client entry beside this module: main.ts from a checkout (tsx, vitest), main.js from dist/. */
function entry(): string {
  const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
  return fileURLToPath(new URL(`./client/main.${ext}`, import.meta.url));
}

export async function buildBundle(): Promise<Bundle> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry()],
    bundle: true,
    write: false,
    format: "esm",
    target: "es2020",
    platform: "browser",
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    logLevel: "silent",
    // Preact's production build: no devtools hooks.
    define: { "process.env.NODE_ENV": '"production"' },
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error("esbuild produced no output for the dashboard");
  const require = createRequire(import.meta.url);
  const uplotCss = await readFile(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  return {
    js: asset("app", "js", "text/javascript; charset=utf-8", Buffer.from(out.contents)),
    css: asset("app", "css", "text/css; charset=utf-8", Buffer.from(`${uplotCss}\n${DASHBOARD_CSS}`, "utf8")),
  };
}

/** The page: the shell the script renders into. No inline script or style (the CSP forbids them). */
export function renderPage(bundle: Bundle, base: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>TUG monitoring</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}/assets/${bundle.css.name}">
<script type="module" src="${base}/assets/${bundle.js.name}"></script>
</head>
<body>
<div id="app"><main class="shell"><p class="state">Loading the dashboard…</p></main></div>
<noscript><p>The dashboard needs JavaScript. The same data is at /monitoring/status and /monitoring/api/v1.</p></noscript>
</body>
</html>
`;
}

/** The page's Content-Security-Policy: its own files only, no inline code, no framing. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");
