import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { ERROR_CATALOG } from "../../src/core/errors.js";

it("docs/errors.md lists exactly the catalog's codes, with their HTTP status", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|—) \|/gm)].map((m) => [m[1], m[2]] as const);
  expect(rows.map(([c]) => c).sort()).toEqual(Object.keys(ERROR_CATALOG).sort());
  for (const [code, status] of rows) {
    const entry = ERROR_CATALOG[code as keyof typeof ERROR_CATALOG];
    if (status !== "—") expect(`${code} ${entry.status}`).toBe(`${code} ${status}`);
  }
});
