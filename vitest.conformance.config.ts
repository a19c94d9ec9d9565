import { defineConfig } from "vitest/config";

// Tests against the outside reference data in ../shared/conformance (or CONFORMANCE_DIR).
// Run by `npm run test:conformance` after `npm test` in CI; `npm test` never needs the data.
export default defineConfig({
  test: {
    include: ["test/conformance/**/*.test.ts"],
    pool: "forks",
    testTimeout: 600_000,
    hookTimeout: 600_000,
    passWithNoTests: true,
  },
});
