#!/usr/bin/env node
// The `tug` command. From a checkout it runs the TypeScript sources through tsx; an install
// without src/ (the Docker image) runs the compiled dist/.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const src = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
let mod;
if (existsSync(src)) {
  const { register } = await import("tsx/esm/api");
  register();
  mod = await import(src);
} else {
  mod = await import("../dist/cli/main.js");
}
const code = await mod.main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
