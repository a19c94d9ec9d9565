/// <reference lib="dom" />
// htm bound to Preact: tagged templates instead of JSX, so the browser code is plain TypeScript
// that esbuild bundles without a JSX step.
export { html } from "htm/preact";
