import { defineConfig } from "vitest/config";

// Tests whose bounds are latencies of a real server under attack (test/abuse.test.ts): they run
// after the rest of `npm test`, one file at a time, so that another test file's servers do not
// share the two cores with the server being measured. `npm test` runs both configurations.
export default defineConfig({
  test: {
    // CI sets VITEST_JSON_DIR: a JSON report beside the console one, for .ci/summary.mjs.
    ...(process.env.VITEST_JSON_DIR
      ? {
          reporters: ["default", "json"],
          outputFile: { json: `${process.env.VITEST_JSON_DIR}/isolated.json` },
        }
      : {}),
    include: ["test/abuse.test.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
