import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import type { Reporter, TestModule } from "vitest/node";

// Tests against the outside reference data in ../shared/conformance (or CONFORMANCE_DIR).
// Run by `npm run test:conformance` after `npm test` in CI; `npm test` never needs the data.
// The suite cannot pass empty: no test files, missing data, or a run in which no conformance test
// executed (all skipped or filtered away) fails with one line saying why.
const repoRoot = fileURLToPath(new URL(".", import.meta.url));
const dataDir = process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance");

/** Fails the run when no test was executed (vitest alone would pass a run of only skipped tests). */
class RequireExecutedTests implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let executed = 0;
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed" || state === "failed") executed++;
      }
    }
    if (executed === 0) {
      console.error(`conformance: no conformance test executed (data at ${dataDir}); failing the run`);
      process.exitCode = 1;
    }
  }
}

// Checked before any file runs: one line instead of one failure per test.
if (!existsSync(dataDir))
  throw new Error(
    `conformance data not found at ${dataDir}: set CONFORMANCE_DIR (or link ../shared) before npm run test:conformance`,
  );

export default defineConfig({
  test: {
    include: ["test/conformance/**/*.test.ts"],
    pool: "forks",
    testTimeout: 600_000,
    hookTimeout: 600_000,
    passWithNoTests: false,
    reporters: ["default", new RequireExecutedTests()],
  },
});
