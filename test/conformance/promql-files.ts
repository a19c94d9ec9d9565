// Locates Prometheus's PromQL test files (CONFORMANCE_DIR or ../shared/conformance); fails loudly if absent.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export function promqlTestFiles(): Array<{ name: string; text: string }> {
  const base = process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance");
  const dir = join(base, "promql");
  if (!existsSync(dir)) {
    throw new Error(
      `PromQL conformance files not found at ${dir}: set CONFORMANCE_DIR to the folder holding promql/*.test`,
    );
  }
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(".test"))
    .sort();
  if (names.length === 0) throw new Error(`no *.test files in ${dir}`);
  return names.map((name) => ({ name, text: readFileSync(join(dir, name), "utf8") }));
}
