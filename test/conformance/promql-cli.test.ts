import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { promqlTestFiles } from "./promql-files.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

describe("tug promql test", () => {
  it("passes every case of Prometheus's PromQL test files", () => {
    promqlTestFiles(); // fails loudly when the files are missing
    const dir = join(process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance"), "promql");
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".test"))
      .sort()
      .map((f) => join(dir, f));
    const r = spawnSync(process.execPath, [join(repoRoot, "bin/tug.js"), "promql", "test", ...files], {
      encoding: "utf8",
    });
    console.log(r.stdout);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(files.length);
    for (const [i, line] of lines.entries())
      expect(line).toMatch(new RegExp(`^${files[i]}: [1-9]\\d* passed, 0 failed$`));
    expect(r.status).toBe(0);
  });
});
