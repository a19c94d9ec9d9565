import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Where a worker thread's code is, for `new Worker(…)`: `name` (without extension) beside
 * `moduleUrl`, the caller's `import.meta.url`. Compiled (dist/) it is `name.js`; from a checkout
 * (the caller's URL ends in .ts: tsx, vitest) a bootstrap registers tsx in the worker, then
 * imports `name.ts`.
 */
export function workerUrl(moduleUrl: string, name: string): URL {
  if (!moduleUrl.endsWith(".ts")) return new URL(`./${name}.js`, moduleUrl);
  const tsxDir = dirname(createRequire(moduleUrl).resolve("tsx/package.json"));
  const tsxApi = pathToFileURL(join(tsxDir, "dist/esm/api/index.mjs")).href;
  const target = new URL(`./${name}.ts`, moduleUrl).href;
  const code = `import { register } from ${JSON.stringify(tsxApi)};\nregister();\nawait import(${JSON.stringify(target)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
